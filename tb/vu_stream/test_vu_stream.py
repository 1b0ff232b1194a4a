"""Tests of the streaming vector unit rtl/eftrain_vu_stream.sv with the real DMA (rtl/axi_dma.sv).

The wrapper tb/vu_stream/vu_stream_tb.sv holds axi_dma + eftrain_vu_stream as the top level will
wire them; the DRAM is tb/common/dram.py (random read latency, random AXI pauses on every channel,
fault regions). The ops: RELU_BP, AVGPOOL_FP / AVGPOOL_BP with Flag.GLOBAL, BN_FP and BN_BP (with
and without Flag.RELU), BIAS_GRAD, SGD.

How a case is checked (everything bit for bit, NaN == NaN): the pytest side builds a DRAM window
with eftrain.program.MemoryPlan (tensors packed with eftrain.golden.layout; every output region,
and every gap between regions, pre-filled with eftrain.program.POISON), checks the descriptor with
eftrain.descriptors.validate, and runs eftrain.machine.GoldenMachine.execute on a copy. The
simulation loads the same window into the DRAM model, sets the DMA window to exactly it, runs the
op on the RTL and returns the whole window; every word of it must equal the golden machine's
(outputs written, nothing else changed, no access outside). Many cases run in one simulation (the
window images travel as .npz files; no eftrain import inside the simulator).

Groups (cocotb test ``vu_run`` runs the group's case list), per configuration:
    ops          two random legal descriptors of every opcode (random flags), and fixed corners:
                 batch 1 and > 1, channel counts not a multiple of TN (padding lanes), 1 x 1 maps
                 (FC), both BN flags; random DRAM latency and AXI pauses per case
    specials     NaN, +-Inf, -0.0, subnormals and huge values in every input, garbage (not +0.0)
                 in padding lanes and BN vector padding, in-place RELU_BP / BN_FP / SGD
    errors       an SLVERR read region and a DECERR write region: err_valid with the DMA status, no
                 done, nothing issued while failed (monitor), no hang; abort, then the same case
                 clean; an abort at a random moment of a running op, then the case clean
    throughput   long RELU_BP / SGD / BN_FP / BIAS_GRAD without stress at a DRAM latency of 40:
                 cycles and read / write beats (printed; RELU_BP and SGD must keep the read stream
                 >= 75% busy)
    sweep        (slow) many more random cases of every kind, specials mixed in

Configurations: ``ci`` (TN 4, WPB 4, ACC_L 4) and ``zcu102`` (TN 16, WPB 4, small shapes) in the
quick tier; ``ci-tight`` (CHUNK 2, FIFO_DEPTH 4: every credit and queue boundary), ``ci-lat`` and
``ci-fast`` (other fp32 latencies: the pipeline's rounded-up unit latencies) and the sweeps marked
slow.

Static checks: ``verilator --lint-only -Wall`` at every preset and two corners, the elaboration
checks.

Environment: ``VU_SEED`` fixes the random seed (printed in every failure message); ``WAVES=1``
builds a traced model.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge, SimTimeoutError, Timer, with_timeout

from tb.common import sim
from tb.common.dram import RESP_DECERR, RESP_SLVERR, Dram

HERE = Path(__file__).resolve().parent
TEST_MODULE = "tb.vu_stream.test_vu_stream"
RTL_MODULES = ("eftrain_fp32_pkg", "fp32_add", "fp32_mul", "fp32_div", "fp32_sqrt", "eftrain_fifo",
               "axi_dma_check", "axi_dma_rd", "axi_dma_wr", "axi_dma", "eftrain_vu_stream")
ADDR_W = 40
DMA_PARAMS = {"ADDR_W": ADDR_W, "MAX_BURST": 256, "MAX_OUTSTANDING": 8, "QUEUE_DEPTH": 4}

# name -> (preset, RTL-only parameters of the unit)
VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "ci": ("ci", {}),
    "zcu102": ("zcu102", {}),
    "ci-tight": ("ci", {"CHUNK": 2, "FIFO_DEPTH": 4}),
    # Latencies the unit rounds up (its pipeline runs adders at an odd latency, multipliers at an
    # even one): ADD_LAT 2 -> 3, MUL_LAT 3 -> 4; and the shortest ones, ADD_LAT 1, MUL_LAT 1 -> 2.
    "ci-lat": ("ci", {"ADD_LAT": 2, "MUL_LAT": 3}),
    "ci-fast": ("ci", {"ADD_LAT": 1, "MUL_LAT": 1}),
}
GROUPS = ("ops", "specials", "errors", "throughput")
QUICK = {("ci", g) for g in GROUPS} | {("zcu102", "ops"), ("zcu102", "specials"),
                                       ("zcu102", "errors")}

# Lint corners beyond the presets: one word per beat with the shortest latencies; TN not a power
# of two with a wider interleave.
LINT_CORNERS: dict[str, dict[str, int]] = {
    "t4-w1-a1": {"TN": 4, "WPB": 1, "ACC_L": 2, "MUL_LAT": 1, "ADD_LAT": 1, "CHUNK": 1,
                 "FIFO_DEPTH": 4},
    "t12-w4-l8": {"TN": 12, "WPB": 4, "ACC_L": 8, "MUL_LAT": 3, "ADD_LAT": 4, "CHUNK": 64,
                  "FIFO_DEPTH": 256},
}

OP_RELU_BP, OP_AVG_FP, OP_AVG_BP, OP_BN_FP, OP_BN_BP, OP_BIAS, OP_SGD = 7, 10, 11, 12, 13, 14, 15
F_RELU, F_GLOBAL = 2, 4
POISON = 0x7FA55A5A   # eftrain.program.POISON


# =================================================================================================
# pytest side: configurations, builds, case generation, checks
# =================================================================================================

def _cfg(name: str) -> dict[str, object]:
    from eftrain.config import preset  # the one source of the hardware parameters

    base, extra = VARIANTS[name]
    c = preset(base)
    p = c.rtl_parameters()
    params = {"TN": p["TN"], "WPB": p["WPB"], "ACC_L": p["ACC_L"], "MUL_LAT": p["MUL_LAT"],
              "ADD_LAT": p["ADD_LAT"], **extra, **DMA_PARAMS}
    return {"name": name, "preset": base, **params}


def _build(name: str) -> sim.Model:
    cfg = _cfg(name)
    params = {k: v for k, v in cfg.items() if k not in ("name", "preset")}
    return sim.build(toplevel="vu_stream_tb",
                     sources=[*sim.rtl_sources(*RTL_MODULES), HERE / "vu_stream_tb.sv"],
                     tag=name, unit="vu_stream", parameters=params)


def _seed() -> int:
    env = os.environ.get("VU_SEED")
    return int(env, 0) if env else secrets.randbits(32)


@dataclass
class Case:
    """One op on one DRAM window, with the golden machine's result."""

    name: str
    fields: dict[str, int]          # the unit's op ports
    base: int
    image: np.ndarray               # the window before (uint32)
    expect: np.ndarray              # the window after GoldenMachine.execute
    mode: str = "ok"                # ok | fault | abort
    fault: tuple[int, int, int] | None = None
    stress: float = 0.0
    latency: int = 20
    abort_at: int = 0               # abort: cycles after start
    info: dict[str, object] = field(default_factory=dict)

    def meta(self) -> dict[str, object]:
        return {"name": self.name, "fields": self.fields, "base": self.base,
                "words": int(self.image.size), "mode": self.mode, "fault": self.fault,
                "stress": self.stress, "latency": self.latency, "abort_at": self.abort_at}


SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -3e-42, 1.4e-45, 3e38, -3e38,
                     1.1754944e-38, 1.0, -1.0], np.float32)


class Gen:
    """Random legal descriptors with their DRAM windows and golden results."""

    def __init__(self, cfg_name: str, seed: int) -> None:
        from eftrain.config import preset

        self.cfg_name = cfg_name
        self.c = preset(str(_cfg(cfg_name)["preset"]))
        self.tn, self.wpb = self.c.tn, self.c.words_per_beat
        self.rng = np.random.default_rng(seed)
        self.r = random.Random(seed)
        # Each case gets its own window high in the 40-bit space.
        self.next_base = (1 << ADDR_W) - (1 << 32) + self.r.randrange(0, 1 << 20) * 64

    # -- data --------------------------------------------------------------------------------------
    def values(self, n: int, special: bool, positive: bool = False) -> np.ndarray:
        scale = float(self.r.choice([1.0, 1e-3, 30.0]))
        x = (self.rng.standard_normal(n) * scale).astype(np.float32)
        if positive:
            x = np.abs(x) + np.float32(0.1)
        if special and n:
            k = max(1, n // 6)
            idx = self.rng.choice(n, size=min(k, n), replace=False)
            x[idx] = self.rng.choice(SPECIALS, size=idx.size)
        return x

    def fmap(self, shape: tuple[int, int, int, int], special: bool, garbage_pad: bool,
             positive: bool = False) -> np.ndarray:
        from eftrain.golden.layout import fmap_layout

        lay = fmap_layout(self.c, shape)
        words = lay.pack(self.values(int(np.prod(shape)), special, positive).reshape(shape))
        c = shape[1]
        if garbage_pad and c % self.tn:
            cb = -(-c // self.tn)
            v = words.reshape(shape[0], cb, shape[2], shape[3], self.tn)
            pad = v[:, cb - 1, :, :, c % self.tn:]
            v[:, cb - 1, :, :, c % self.tn:] = self.values(pad.size, True).view(np.uint32).reshape(pad.shape)
        return words

    def vec(self, c: int, special: bool, garbage_pad: bool, positive: bool = False) -> np.ndarray:
        cp = -(-c // self.tn) * self.tn
        out = np.zeros(cp, np.float32)
        out[:c] = self.values(c, special, positive)
        if garbage_pad and cp > c:
            out[c:] = self.values(cp - c, True)
        return out.view(np.uint32)

    # -- descriptors -------------------------------------------------------------------------------
    def case(self, kind: str, *, b: int, c: int, h: int = 1, w: int = 1, count: int = 0,
             flags: int = 0, special: bool = False, garbage_pad: bool = False,
             inplace: bool = False, name: str | None = None) -> Case:
        from eftrain.descriptors import Descriptor, Opcode, scalar_words, validate
        from eftrain.golden.layout import fmap_layout
        from eftrain.machine import GoldenMachine
        from eftrain.program import MemoryPlan

        base = self.next_base
        plan = MemoryPlan(base, base + (1 << 28))
        xs = (b, c, h, w)
        xw = fmap_layout(self.c, xs).size if kind != "sgd" else 0
        poison = lambda n: np.full(n, POISON, np.uint32)  # noqa: E731
        d_kw: dict[str, int] = {"batch": b, "m": c, "n": c, "h": h, "w": w, "flags": flags}
        scal: tuple[int, int, int] = (0, 0, 0)
        pos = special and self.r.random() < 0.5
        if kind == "relu_bp":
            op = Opcode.RELU_BP
            dy = plan.alloc("dy", self.fmap(xs, special, garbage_pad))
            y = plan.alloc("y", self.fmap(xs, special, garbage_pad))
            dx = dy if inplace else plan.alloc("dx", poison(xw))
            d_kw.update(src0=dy, src1=y, dst=dx)
        elif kind in ("gap_fp", "gap_bp"):
            ys = (b, c, 1, 1)
            yw = fmap_layout(self.c, ys).size
            d_kw["flags"] = flags | F_GLOBAL
            if kind == "gap_fp":
                op = Opcode.AVGPOOL_FP
                x = plan.alloc("x", self.fmap(xs, special, garbage_pad))
                y = plan.alloc("y", poison(yw))
                d_kw.update(src0=x, dst=y)
            else:
                op = Opcode.AVGPOOL_BP
                dy = plan.alloc("dy", self.fmap(ys, special, garbage_pad))
                dx = plan.alloc("dx", poison(xw))
                d_kw.update(src0=dy, dst=dx)
        elif kind == "bias":
            op = Opcode.BIAS_GRAD
            dy = plan.alloc("dy", self.fmap(xs, special, garbage_pad))
            cp = -(-c // self.tn) * self.tn
            db = plan.alloc("db", poison(cp))
            d_kw.update(src0=dy, dst=db)
        elif kind in ("bn_fp", "bn_bp"):
            cp = -(-c // self.tn) * self.tn
            gamma = self.vec(c, special, garbage_pad)
            beta = self.vec(c, special, garbage_pad)
            if kind == "bn_fp":
                op = Opcode.BN_FP
                rm = self.vec(c, special, garbage_pad)
                rv = self.vec(c, special, garbage_pad, positive=True)
                blk = np.concatenate([gamma, beta, rm, rv, poison(cp), poison(cp),
                                      self.vec(c, False, False), self.vec(c, False, False)])
                x = plan.alloc("x", self.fmap(xs, special, garbage_pad, positive=pos))
                bn = plan.alloc("bn", blk)
                y = x if inplace else plan.alloc("y", poison(xw))
                eps = float(self.r.choice([1e-5, 1e-3, 0.5, 1e-30]))
                mom = float(self.r.choice([0.1, 0.0, 1.0, self.r.random()]))
                scal = scalar_words(eps, mom)
                d_kw.update(src0=x, src1=bn, dst=y)
            else:
                op = Opcode.BN_BP
                mean = self.vec(c, special, garbage_pad)
                invstd = self.vec(c, special, garbage_pad, positive=True)
                blk = np.concatenate([gamma, beta, self.vec(c, False, False),
                                      self.vec(c, False, False), mean, invstd, poison(cp),
                                      poison(cp)])
                dy = plan.alloc("dy", self.fmap(xs, special, garbage_pad))
                bn = plan.alloc("bn", blk)
                x = plan.alloc("x", self.fmap(xs, special, garbage_pad))
                dx = plan.alloc("dx", poison(xw))
                d_kw.update(src0=dy, src1=bn, src2=x, dst=dx)
        elif kind == "sgd":
            op = Opcode.SGD
            g = plan.alloc("g", self.values(count, special).view(np.uint32))
            v = plan.alloc("v", self.values(count, special).view(np.uint32))
            wt = plan.alloc("w", self.values(count, special).view(np.uint32))
            lr = float(self.r.choice([0.1, 0.01, self.r.random(), 0.0]))
            mom = float(self.r.choice([0.9, 0.0, self.r.random()]))
            wd = float(self.r.choice([0.0, 1e-4, self.r.random()]))
            scal = scalar_words(lr, mom, wd)
            d_kw = {"batch": 0, "m": count & 0xFFFF, "n": count >> 16, "h": 0, "w": 0, "k": 0,
                    "stride": 0, "src0": g, "src1": v, "dst": wt}
        else:
            raise ValueError(kind)
        d = Descriptor(opcode=int(op), reserved=(0, 0, *scal), **d_kw)

        top = plan.top
        limit = top + 64                    # a poisoned guard line after the last region
        image = np.full((limit - base) // 4, POISON, np.uint32)
        for reg in plan.regions.values():
            lo = (reg.addr - base) // 4
            image[lo:lo + reg.data.size] = reg.data
        verdict = validate(d, self.c, (base, limit))
        assert verdict == 0, f"test bug: {kind} descriptor invalid ({verdict!r}): {d}"
        gm = GoldenMachine(self.c, (base, limit))
        gm.mem[:] = image
        gm.execute(d)
        self.next_base = (limit + (1 << 16)) // 4096 * 4096 + self.r.randrange(0, 64) * 64
        fields = {"op": int(d.opcode), "flags": int(d.flags), "batch": d.batch, "ch": d.n,
                  "h": d.h, "w": d.w, "k": d.k, "stride": d.stride, "count": d.count,
                  "src0": d.src0, "src1": d.src1, "src2": d.src2, "dst": d.dst,
                  "s0": int(scal[0]), "s1": int(scal[1]), "s2": int(scal[2])}
        label = name or f"{kind} b{b} c{c} {h}x{w}" + (f" n{count}" if kind == "sgd" else "") + (
            f" flags{flags:#x}" if flags else "") + (" special" if special else "") + (
            " inplace" if inplace else "")
        return Case(label, fields, base, image, gm.mem.copy(),
                    stress=self.r.choice([0.0, 0.2, 0.4]), latency=self.r.choice([1, 8, 20, 40]),
                    info={"regions": {k: (v.addr, v.data.size) for k, v in plan.regions.items()}})

    # -- random shapes -----------------------------------------------------------------------------
    def shape(self, small: bool) -> tuple[int, int, int, int]:
        t = self.tn
        if small:   # zcu102: TN 16, keep the maps tiny
            c = self.r.choice([t, t - 3, t + 5, 2 * t + 1, 3])
            return self.r.choice([1, 2]), c, self.r.randint(1, 3), self.r.randint(1, 3)
        c = self.r.choice([t, t - 1, 2 * t + 1, 3 * t, self.r.randint(1, 4 * t)])
        return self.r.choice([1, 2, 3]), c, self.r.randint(1, 5), self.r.randint(1, 5)

    def random_case(self, kind: str, small: bool, special: bool = False) -> Case:
        b, c, h, w = self.shape(small)
        flags = F_RELU if kind in ("bn_fp", "bn_bp") and self.r.random() < 0.5 else 0
        if kind in ("bn_fp", "bn_bp") and b * h * w < 2:
            h = 2
        if kind == "sgd":
            n = self.wpb * self.r.randint(1, 40 if small else 150)
            return self.case("sgd", b=0, c=0, count=n, special=special)
        return self.case(kind, b=b, c=c, h=h, w=w, flags=flags, special=special,
                         garbage_pad=special and self.r.random() < 0.7)


KINDS = ("relu_bp", "gap_fp", "gap_bp", "bn_fp", "bn_bp", "bias", "sgd")


def _cases(name: str, group: str, seed: int) -> list[Case]:
    g = Gen(name, seed)
    small = VARIANTS[name][0] == "zcu102"
    t = g.tn
    out: list[Case] = []
    if group == "ops":
        for kind in (*KINDS, *KINDS):
            out.append(g.random_case(kind, small))
        # Fixed corners: batch 1 and > 1, padding lanes, 1 x 1 maps (FC), both BN flags.
        out.append(g.case("bn_fp", b=1, c=t + 1, h=2, w=3, flags=F_RELU))
        out.append(g.case("bn_fp", b=3, c=2 * t - 1, h=1, w=1))
        out.append(g.case("bn_bp", b=1, c=t - 1 if t > 1 else 1, h=3, w=2, flags=F_RELU))
        out.append(g.case("bn_bp", b=2, c=t + 2, h=2, w=2))
        out.append(g.case("bias", b=4, c=2 * t + 3, h=1, w=1))
        out.append(g.case("relu_bp", b=3, c=t + 3, h=1, w=1))
        out.append(g.case("gap_fp", b=2, c=t + 1, h=3, w=3))
        out.append(g.case("gap_bp", b=2, c=t - 1 if t > 1 else 1, h=2, w=3))
        out.append(g.case("sgd", b=0, c=0, count=g.wpb))
        if not small:
            out.append(g.case("bn_fp", b=2, c=t, h=5, w=7, flags=F_RELU))
            out.append(g.case("sgd", b=0, c=0, count=g.wpb * 301))
    elif group == "specials":
        for kind in KINDS:
            out.append(g.random_case(kind, small, special=True))
        out.append(g.case("relu_bp", b=2, c=t + 1, h=2, w=2, special=True, inplace=True))
        out.append(g.case("bn_fp", b=2, c=t + 1, h=2, w=2, special=True, inplace=True,
                          flags=F_RELU))
        out.append(g.case("bn_bp", b=2, c=t - 1 if t > 1 else 1, h=2, w=2, special=True,
                          garbage_pad=True, flags=F_RELU))
    elif group == "errors":
        rd = g.case("bn_bp", b=2, c=t + 1, h=2, w=3, flags=F_RELU)
        x_addr, x_words = rd.info["regions"]["x"]   # type: ignore[index]
        lo = x_addr + 4 * (x_words // 2) // 64 * 64
        rd.mode, rd.fault, rd.name = "fault", (lo, lo + 64, RESP_SLVERR), rd.name + " read SLVERR"
        out.append(rd)
        wr = g.case("relu_bp", b=2, c=t + 1, h=3, w=3)
        dx_addr, dx_words = wr.info["regions"]["dx"]   # type: ignore[index]
        lo = dx_addr + 4 * (dx_words // 2) // 64 * 64
        wr.mode, wr.fault, wr.name = "fault", (lo, lo + 16, RESP_DECERR), wr.name + " write DECERR"
        out.append(wr)
        sg = g.case("sgd", b=0, c=0, count=g.wpb * 64)
        v_addr, _ = sg.info["regions"]["v"]   # type: ignore[index]
        sg.mode, sg.fault, sg.name = "fault", (v_addr, v_addr + 64, RESP_SLVERR), sg.name + " v SLVERR"
        out.append(sg)
        for kind in ("bn_fp", "sgd", "relu_bp"):
            ab = g.random_case(kind, small)
            ab.mode = "abort"
            ab.abort_at = g.r.randint(2, max(3, ab.image.size // g.wpb))
            ab.name += f" abort@{ab.abort_at}"
            out.append(ab)
    elif group == "throughput":
        big = 16 if small else 64
        cases = [g.case("relu_bp", b=2, c=2 * t, h=8, w=big // 4),
                 g.case("sgd", b=0, c=0, count=g.wpb * 512),
                 g.case("bn_fp", b=2, c=t, h=8, w=big // 4, flags=F_RELU),
                 g.case("bias", b=2, c=2 * t, h=8, w=big // 4)]
        for cs in cases:
            cs.stress, cs.latency = 0.0, 40
        out += cases
    elif group == "sweep":
        for i in range(36):
            out.append(g.random_case(KINDS[i % len(KINDS)], small, special=(i % 3 == 2)))
        ab = g.random_case("bn_bp", small)
        ab.mode, ab.abort_at = "abort", g.r.randint(2, 400)
        out.append(ab)
    else:
        raise ValueError(group)
    return out


def _params() -> list[object]:
    out = []
    for name in VARIANTS:
        for group in (*GROUPS, "sweep"):
            if name in ("ci-tight", "ci-lat", "ci-fast") and group == "throughput":
                continue
            marks = [] if (name, group) in QUICK else [pytest.mark.slow]
            out.append(pytest.param(name, group, marks=marks, id=f"{name}-{group}"))
    return out


@pytest.mark.parametrize(("name", "group"), _params())
def test_vu_stream(name: str, group: str) -> None:
    seed = _seed()
    tag = f"[vu_stream {name} {group}, VU_SEED={seed:#x}]"
    with np.errstate(all="ignore"):   # specials make the golden model's NumPy warn
        cases = _cases(name, group, seed)
    model = _build(name)
    work = sim.run_dir(model, group)
    arrays = {f"img{i}": c.image for i, c in enumerate(cases)}
    np.savez(work / "cases.npz", **arrays)
    (work / "cases.json").write_text(json.dumps([c.meta() for c in cases]))
    for f in ("results.npz", "results.json"):
        (work / f).unlink(missing_ok=True)
    env = {"VU_SEED": str(seed), "VU_CFG": json.dumps(_cfg(name))}
    try:
        sim.run(model, test_module=TEST_MODULE, directory=work, testcase="vu_run", extra_env=env,
                seed=seed & 0x7FFFFFFF)
    except sim.SimulationError as exc:
        raise AssertionError(f"{tag} {exc}") from None
    got = np.load(work / "results.npz")
    meta = json.loads((work / "results.json").read_text())
    bad = []
    for i, c in enumerate(cases):
        out = got[f"out{i}"]
        exp = c.expect
        same = (out == exp) | (_is_nan(out) & _is_nan(exp))
        if not same.all():
            idx = np.nonzero(~same)[0]
            where = _where(c, int(idx[0]))
            bad.append(f"case {i} '{c.name}': {idx.size} words differ, first at word {int(idx[0])} "
                       f"({where}): rtl {int(out[idx[0]]):#010x} golden {int(exp[idx[0]]):#010x}")
    if group == "throughput":
        _report_throughput(cases, meta, name, tag)
    assert not bad, f"{tag}\n" + "\n".join(bad)


def _is_nan(a: np.ndarray) -> np.ndarray:
    return ((a & 0x7F800000) == 0x7F800000) & ((a & 0x007FFFFF) != 0)


def _where(c: Case, word: int) -> str:
    addr = c.base + 4 * word
    for name, (a, n) in c.info["regions"].items():   # type: ignore[union-attr]
        if a <= addr < a + 4 * n:
            return f"{name}[{(addr - a) // 4}]"
    return f"outside every region, {addr:#x}"


def _report_throughput(cases: list[Case], meta: list[dict[str, int]], name: str, tag: str) -> None:
    lines = [f"{name} throughput (DRAM latency 40, no stalls; 'streaming' = first to last beat):",
             f"  {'case':<34} {'cycles':>8} {'rd beats':>9} {'wr beats':>9} {'rd/cycle':>9} "
             f"{'streaming':>10}"]
    low = []
    for c, m in zip(cases, meta, strict=True):
        cyc = max(1, int(m["cycles"]))
        util = m["rd_beats"] / cyc
        stream = m["rd_beats"] / max(1, int(m["last"]) - int(m["first"]) + 1)
        lines.append(f"  {c.name:<34} {cyc:>8} {m['rd_beats']:>9} {m['wr_beats']:>9} {util:>9.2f} "
                     f"{stream:>10.2f}")
        if c.name.startswith(("relu_bp", "sgd")) and util < 0.75:
            low.append(f"{c.name}: read stream {util:.2f} busy (< 0.75)")
    print("\n".join(lines))
    assert not low, f"{tag} " + "; ".join(low)


def _lint(params: dict[str, int]) -> subprocess.CompletedProcess[str]:
    root = sim.setup_verilator()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--timescale", "1ns/1ps",
           "--top-module", "eftrain_vu_stream", *(f"-G{k}={v}" for k, v in params.items()),
           *map(str, sim.rtl_sources("eftrain_fp32_pkg", "fp32_add", "fp32_mul", "fp32_div",
                                     "fp32_sqrt", "eftrain_fifo", "eftrain_vu_stream"))]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _lint_params(name: str) -> dict[str, int]:
    if name in LINT_CORNERS:
        return LINT_CORNERS[name]
    cfg = _cfg(name)
    return {k: int(cfg[k]) for k in ("TN", "WPB", "ACC_L", "MUL_LAT", "ADD_LAT")}


@pytest.mark.parametrize("name", ["ci", "zcu102", *LINT_CORNERS])
def test_verilator_lint_clean(name: str) -> None:
    out = _lint(_lint_params(name))
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


@pytest.mark.parametrize("bad", [{"TN": 6, "WPB": 4}, {"ACC_L": 3}, {"ACC_L": 2, "ADD_LAT": 3},
                                 {"CHUNK": 64, "FIFO_DEPTH": 32}])
def test_elaboration_checks(bad: dict[str, int]) -> None:
    """TN % WPB != 0, a non-power-of-two or too short interleave, FIFOs smaller than a chunk."""
    out = _lint(bad)
    assert out.returncode != 0 and "must" in out.stderr, out.stderr[-2000:]


# =================================================================================================
# Simulator side
# =================================================================================================

CLK_NS = 10
FIELDS = ("op", "flags", "batch", "ch", "h", "w", "k", "stride", "count", "src0", "src1", "src2",
          "dst", "s0", "s1", "s2")


class TB:
    """Clock, reset, DRAM, the op ports and the waits."""

    def __init__(self, dut: object) -> None:
        self.dut = dut
        self.cfg = json.loads(os.environ["VU_CFG"])
        self.seed = int(os.environ.get("VU_SEED", "1"), 0)
        self.rng = random.Random(self.seed ^ 0x5EED)
        self.wpb = int(self.cfg["WPB"])
        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.dram = Dram(dut, dut.clk, ADDR_W, latency=20, clk_ns=CLK_NS)

    async def reset(self) -> None:
        d = self.dut
        d.rst_n.value = 0
        d.abort.value = 0
        d.start.value = 0
        d.perf_clear.value = 0
        for f in FIELDS:
            getattr(d, f).value = 0
        d.win_base.value = 0
        d.win_limit.value = 0
        await ClockCycles(d.clk, 5)
        d.rst_n.value = 1
        await ClockCycles(d.clk, 2)

    def v(self, name: str) -> int:
        return int(getattr(self.dut, name).value)

    def state(self) -> str:
        names = ("busy", "err_valid", "err_status", "rd_busy", "wr_busy", "done_cnt", "rd_beats",
                 "wr_beats")
        inner = ("st", "w_fin", "c_fin", "cpc", "wpc", "c_go", "failed", "rd_out", "wr_out",
                 "rd_cmd_valid", "rd_cmd_ready", "rds_valid", "rds_ready", "rd_done_valid",
                 "wr_cmd_valid", "wr_cmd_ready", "wrs_valid", "wrs_ready", "wr_done_valid")
        axi = ("m_axi_arvalid", "m_axi_arready", "m_axi_rvalid", "m_axi_rready", "m_axi_awvalid",
               "m_axi_awready", "m_axi_wvalid", "m_axi_wready", "m_axi_bvalid", "m_axi_bready")
        u = self.dut.u_vu
        return (" ".join(f"{n}={self.v(n)}" for n in names) + "; u_vu: "
                + " ".join(f"{n}={int(getattr(u, n).value)}" for n in inner) + "; axi: "
                + " ".join(f"{n[6:]}={self.v(n)}" for n in axi))

    async def start(self, f: dict[str, int]) -> None:
        d = self.dut
        await FallingEdge(d.clk)
        d.perf_clear.value = 1
        for k, val in f.items():
            getattr(d, k).value = val
        d.start.value = 1
        await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.start.value = 0
        d.perf_clear.value = 0

    async def wait_end(self, budget: int, what: str) -> str:
        """Until done or err_valid: 'done' / 'err'."""
        d = self.dut
        if self.v("done_cnt") or self.v("err_valid"):
            return "done" if self.v("done_cnt") else "err"
        try:
            await with_timeout(First(RisingEdge(d.done), RisingEdge(d.err_valid)), budget * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: neither done nor err_valid in {budget} cycles; "
                                 f"{self.state()}") from None
        await ClockCycles(d.clk, 2)
        return "err" if self.v("err_valid") else "done"

    async def abort(self) -> None:
        d = self.dut
        await FallingEdge(d.clk)
        d.abort.value = 1
        await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.abort.value = 0
        for _ in range(20_000):
            if not (self.v("rd_busy") or self.v("wr_busy")):
                break
            await ClockCycles(d.clk, 5)
        await ClockCycles(d.clk, 4)
        assert (self.v("busy"), self.v("err_valid"), self.v("rd_busy"), self.v("wr_busy")) == (
            0, 0, 0, 0), f"not idle after abort: {self.state()}"

    def load(self, base: int, img: np.ndarray, stress: float, latency: int) -> None:
        d = self.dut
        self.dram.write(base, img.astype("<u4").tobytes())
        d.win_base.value = base
        d.win_limit.value = base + 4 * img.size
        self.dram.pause(self.rng, stress)
        self.dram.latency = latency

    async def run_ok(self, c: dict[str, object], img: np.ndarray, budget: int) -> dict[str, int]:
        await self.start(c["fields"])   # type: ignore[arg-type]
        t0 = self.v("cycle")
        end = await self.wait_end(budget, f"case '{c['name']}'")
        assert end == "done", f"case '{c['name']}': err_valid status {self.v('err_status')}; {self.state()}"
        cycles = self.v("cycle") - t0
        await ClockCycles(self.dut.clk, 3)
        assert self.v("done_cnt") == 1 and not self.v("busy"), (
            f"case '{c['name']}': done pulses {self.v('done_cnt')}, busy {self.v('busy')}")
        return {"cycles": cycles, "rd_beats": self.v("rd_beats"), "wr_beats": self.v("wr_beats"),
                "first": self.v("first_cyc"), "last": self.v("last_cyc")}


@cocotb.test()
async def vu_run(dut: object) -> None:
    tb = TB(dut)
    await tb.reset()
    cases = json.loads(Path("cases.json").read_text())
    data = np.load("cases.npz")
    results: dict[str, np.ndarray] = {}
    meta: list[dict[str, int]] = []
    for i, c in enumerate(cases):
        img = data[f"img{i}"]
        base = int(c["base"])
        budget = 20_000 + 60 * img.size
        name = c["name"]
        dut._log.info("case %d: %s (%d words, mode %s, stress %.1f, latency %d)", i, name, img.size,
                      c["mode"], c["stress"], c["latency"])
        tb.load(base, img, float(c["stress"]), int(c["latency"]))
        tb.dram.take()
        if c["mode"] == "fault":
            lo, hi, resp = c["fault"]
            tb.dram.faults = [(lo, hi, resp)]
            await tb.start(c["fields"])
            end = await tb.wait_end(budget, f"case '{name}'")
            assert end == "err", f"case '{name}': done although a fault region was hit"
            want = {RESP_SLVERR: 4, RESP_DECERR: 5}[resp]
            assert tb.v("err_status") == want, (
                f"case '{name}': err_status {tb.v('err_status')}, want {want}")
            # The unit must accept whatever the DMA still delivers: the read side drains (under
            # heavy random AXI pauses that can take several hundred cycles), nothing new starts.
            await ClockCycles(dut.clk, 200)
            for _ in range(2000):
                if not tb.v("rd_busy"):
                    break
                await ClockCycles(dut.clk, 10)
            log = tb.dram.log
            assert not tb.v("rd_busy"), (
                f"case '{name}': read side not drained in 20000 cycles: {tb.state()}; DRAM saw "
                f"{len(log.ar)} AR ({sum(b for _, b in log.ar)} beats), {log.r_beats} R beats")
            assert tb.v("done_cnt") == 0 and tb.v("err_valid") and tb.v("busy"), (
                f"case '{name}' after the error: {tb.state()}")
            assert not tb.v("quiet_bad"), f"case '{name}': DMA activity while err_valid"
            await tb.abort()
            tb.dram.faults = []
            tb.load(base, img, float(c["stress"]), int(c["latency"]))
        elif c["mode"] == "abort":
            await tb.start(c["fields"])
            await ClockCycles(dut.clk, int(c["abort_at"]))
            await tb.abort()
            tb.load(base, img, float(c["stress"]), int(c["latency"]))
        m = await tb.run_ok(c, img, budget)
        meta.append(m)
        results[f"out{i}"] = tb.dram.array(base, img.size)
        await Timer(1, "ns")
    np.savez("results.npz", **results)
    Path("results.json").write_text(json.dumps(meta))
