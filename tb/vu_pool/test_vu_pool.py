"""Tests of the vector unit's windowed pooling engine, rtl/eftrain_vu_pool.sv, with the real DMA.

The wrapper tb/vu_pool/vu_pool_tb.sv holds axi_dma + eftrain_vu_pool as the top level wires them
(``abort`` is the unit's abort and the DMA's soft reset) and puts stall gates on the DMA's read
and write streams. The DRAM is tb/common/dram.py (read latency, random AXI pauses, fault
regions). One Verilator model per configuration (``build/<config>/vu_pool/model``); each cocotb
test below runs in its own simulation.

Every op is checked against the golden machine (eftrain.machine.GoldenMachine): the test builds
a DRAM image of a memory window (eftrain.program.MemoryPlan regions holding the tensors in the
reshaped layouts, output regions pre-filled with eftrain.program.POISON, random words in every
gap), runs the descriptor on the RTL and GoldenMachine.execute on a copy of the image, and
compares every word of the used window bit for bit (NaN == NaN inside output regions only; a
POISON word left in an output is a miss): outputs, padding lanes, and that nothing else changed.

Configurations: ``ci`` (TN 4, WPB 4, ACC_L 4), ``ci-w2`` (the ci preset on a 64-bit bus: WPB 2,
two beats per pixel), ``zcu102`` (TN 16, WPB 4: four beats per pixel; small shapes in the quick
tier).

cocotb tests
    random      random legal descriptors of the four opcodes (k 1..7, stride 1..4, H/W >= k,
                channels not a multiple of TN, batch 1..3, one op per opcode with planes of
                55..100 % of the buffer so both banks are used), random data with NaN/Inf/-0.0/subnormal
                and tied values mixed in, under random DRAM latency, AXI pauses and stream stalls.
    ring        planes of 55..100 % of the buffer, 2..6 of them per op: the ring buffer wraps and
                each plane's load overlaps the previous plane's computation as far as it has
                freed the buffer; under random stress.
    specials    inputs made mostly of specials and ties (first-of-equals and NaN rules of max
                pooling, overflow to Inf in average sums, -0.0 + -0.0, overlapping windows k > s
                in the BP gathers, MAXPOOL_BP indices all pointing at one input).
    errors      SLVERR on an input plane, DECERR on an output plane, a read outside the window:
                err_valid with the DMA status, the unit silent afterwards (no command, no write
                beat), the DMA read side drained (no hang); abort clears everything and a clean
                rerun matches the golden machine.
    abort       each op runs once (checked, timed), then again with an abort at a random fraction
                of its time (at once ... the cycle of done) under stress: idle and error-free
                the next cycle, the DMA drains; the rerun matches.
    throughput  no stress: cycles of the common 2x2/2 and 3x3/1 ops, planes of half and all of the
                buffer, against the schedule (R cycles per output beat + ACC_L per plane, one
                load beat per cycle, the next plane's load overlapped): printed and bounded.
    sweep       (slow) many more random ops, larger shapes.

Environment: ``VU_POOL_SEED`` fixes the random seed (printed in every failure message);
``WAVES=1`` builds a traced model. A mismatch leaves ``failure.npz`` (descriptor, image, RTL and
golden words) in the run directory to replay the op in Python.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from tb.common import sim
from tb.common.dram import RESP_DECERR, RESP_SLVERR, Dram

HERE = Path(__file__).resolve().parent
TEST_MODULE = "tb.vu_pool.test_vu_pool"
UNIT_MODULES = ("eftrain_fp32_pkg", "fp32_add", "fp32_div_kk", "eftrain_fifo", "eftrain_vu_ram",
                "eftrain_vu_pool")
DMA_MODULES = ("axi_dma_check", "axi_dma_rd", "axi_dma_wr", "axi_dma")
VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "ci": ("ci", {}),
    "ci-w2": ("ci", {"bus_bits": 64}),
    "zcu102": ("zcu102", {}),
}
QUICK: dict[str, tuple[str, ...]] = {
    "ci": ("random", "ring", "specials", "errors", "abort", "throughput"),
    "ci-w2": ("random", "abort"),
    "zcu102": ("random", "errors"),
}
SLOW: dict[str, tuple[str, ...]] = {"ci": ("sweep",), "ci-w2": ("sweep", "specials", "ring"),
                                    "zcu102": ("sweep", "specials", "abort", "throughput", "ring")}
ADDR_W = 40
DMA_PARAMS = {"ADDR_W": ADDR_W, "MAX_BURST": 64, "MAX_OUTSTANDING": 8, "QUEUE_DEPTH": 4}

# Lint corners beyond the presets: a one-word bus with odd TN and ACC_L, a wide bus.
LINT_CORNERS: dict[str, dict[str, int]] = {
    "t3-w1": {"TN": 3, "WPB": 1, "ACC_L": 5, "ADD_LAT": 4, "BUF_DEPTH": 96, "DIV_LAT": 30},
    "t16-w8": {"TN": 16, "WPB": 8, "ACC_L": 2, "ADD_LAT": 1, "BUF_DEPTH": 2048, "DIV_LAT": 1,
               "ADDR_W": 64},
}


# =================================================================================================
# pytest side
# =================================================================================================

def _cfg(name: str) -> dict[str, object]:
    from eftrain.config import preset  # the one source of the hardware parameters

    base, changes = VARIANTS[name]
    c = preset(base).with_(**changes)
    return {"name": name, "preset": base, "changes": changes, "TN": c.tn, "WPB": c.words_per_beat,
            "ACC_L": c.acc_interleave, "MUL_LAT": c.mul_latency, "ADD_LAT": c.add_latency,
            "BUF_DEPTH": c.vu_buf_depth, **DMA_PARAMS}


def _build(name: str) -> sim.Model:
    cfg = _cfg(name)
    params = {k: v for k, v in cfg.items() if k not in ("name", "preset", "changes")}
    return sim.build(
        toplevel="vu_pool_tb",
        sources=[*sim.rtl_sources(*UNIT_MODULES, *DMA_MODULES), HERE / "vu_pool_tb.sv"],
        tag=name,
        unit="vu_pool",
        parameters=params,
    )


def _seed() -> int:
    env = os.environ.get("VU_POOL_SEED")
    return int(env, 0) if env else secrets.randbits(32)


def _cases() -> list[object]:
    cases: list[object] = [(n, t) for n, tests in QUICK.items() for t in tests]
    cases += [pytest.param(n, t, marks=pytest.mark.slow) for n, tests in SLOW.items() for t in tests]
    return cases


@pytest.mark.parametrize(("name", "test"), _cases())
def test_vu_pool(name: str, test: str) -> None:
    model = _build(name)
    seed = _seed()
    work = sim.run_dir(model, test)
    env = {"VU_POOL_SEED": str(seed), "VU_POOL_CFG": json.dumps(_cfg(name))}
    try:
        sim.run(model, test_module=TEST_MODULE, directory=work, testcase=f"vu_pool_{test}",
                extra_env=env, seed=seed & 0x7FFFFFFF)
    except sim.SimulationError as exc:
        raise AssertionError(f"[vu_pool {name} {test}, VU_POOL_SEED={seed:#x}] {exc}") from None
    if test == "throughput":
        print(f"{name} throughput:", (work / "throughput.json").read_text())


def _lint(params: dict[str, int]) -> subprocess.CompletedProcess[str]:
    root = sim.setup_verilator()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--timescale", "1ns/1ps",
           "--top-module", "eftrain_vu_pool", *(f"-G{k}={v}" for k, v in params.items()),
           *map(str, sim.rtl_sources(*UNIT_MODULES))]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _lint_params(name: str) -> dict[str, int]:
    if name in LINT_CORNERS:
        return LINT_CORNERS[name]
    cfg = _cfg(name)
    return {k: int(cfg[k]) for k in ("TN", "WPB", "ACC_L", "ADD_LAT", "BUF_DEPTH", "ADDR_W")}


@pytest.mark.parametrize("name", [*VARIANTS, *LINT_CORNERS])
def test_verilator_lint_clean(name: str) -> None:
    out = _lint(_lint_params(name))
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


@pytest.mark.parametrize("bad", [{"TN": 6, "WPB": 4}, {"TN": 4, "WPB": 4, "ACC_L": 3, "ADD_LAT": 3},
                                 {"TN": 4, "WPB": 4, "BUF_DEPTH": 100}])
def test_elaboration_checks(bad: dict[str, int]) -> None:
    """TN % WPB != 0, ACC_L < ADD_LAT + 1 and a buffer that does not split into two banks stop
    elaboration with a message."""
    out = _lint(bad)
    assert out.returncode != 0 and "must" in out.stderr, out.stderr[-2000:]


def test_yosys_synth_xilinx(tmp_path: Path) -> None:
    """synth_xilinx (UltraScale+) of the unit at the ci parameters: no latch, block RAM inferred."""
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install -y yosys)")
    p = _lint_params("ci")
    files = " ".join(str(f) for f in sim.rtl_sources(*UNIT_MODULES))
    chparam = " ".join(f"-set {k} {v}" for k, v in p.items())
    log = tmp_path / "yosys.log"
    script = (f"read_verilog -sv {files}; chparam {chparam} eftrain_vu_pool; "
              f"synth_xilinx -family xcup -top eftrain_vu_pool; stat -top eftrain_vu_pool")
    proc = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    text = log.read_text()
    assert "Latch inferred" not in text
    assert "RAMB36E2" in text or "RAMB18E2" in text, "the plane buffer is not in block RAM"


# =================================================================================================
# Simulator side
# =================================================================================================

CLK_NS = 10
OP_MAXFP, OP_MAXBP, OP_AVGFP, OP_AVGBP = 0x08, 0x09, 0x0A, 0x0B
OP_NAMES = {OP_MAXFP: "MAXPOOL_FP", OP_MAXBP: "MAXPOOL_BP", OP_AVGFP: "AVGPOOL_FP",
            OP_AVGBP: "AVGPOOL_BP"}
ST_OUT_OF_WINDOW, ST_SLVERR, ST_DECERR = 3, 4, 5
WINDOW_BYTES = 1 << 21

# Specials (never POISON: an input word equal to it could hide a missing output word).
SPECIALS = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBFFFFF, 0x7FC12345,   # NaNs
                     0x7F800000, 0xFF800000,                                         # +-Inf
                     0x00000000, 0x80000000,                                         # +-0
                     0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000,     # subnormal
                     0x00800000, 0x80800000,                                         # min normal
                     0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000, 0xFF000000],                # huge
                    dtype=np.uint32)


@dataclass
class Op:
    """One pooling op: the descriptor, its memory plan and the image of the used window."""

    desc: object
    plan: object
    image: np.ndarray                  # uint32 words of [base, base + 4 * image.size)
    outputs: dict[str, tuple[int, tuple[int, int, int, int]]]   # name -> (addr, fmap shape)

    @property
    def name(self) -> str:
        d = self.desc
        return (f"{OP_NAMES[d.opcode]} B={d.batch} C={d.n} H={d.h} W={d.w} k={d.k} s={d.stride}")


class TB:
    """Clock, reset, DRAM, op building, running and checking."""

    def __init__(self, dut: object) -> None:
        from eftrain.config import preset

        self.dut = dut
        c = json.loads(os.environ["VU_POOL_CFG"])
        self.c = c
        self.cfg = preset(c["preset"]).with_(**c["changes"])
        self.tn, self.wpb = self.cfg.tn, self.cfg.words_per_beat
        self.seed = int(os.environ.get("VU_POOL_SEED", "1"), 0)
        self.rng = random.Random(self.seed)
        self.nrng = np.random.default_rng(self.seed)
        self.tag = f"[{c['name']} VU_POOL_SEED={self.seed:#x}]"
        dut._log.info("vu_pool_tb %s %s", c, self.tag)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.dram = Dram(dut, dut.clk, ADDR_W, latency=self.rng.randint(1, 40), clk_ns=CLK_NS)
        # A window high in the 40-bit space (64-byte aligned, as MemoryPlan requires).
        self.base = (1 << ADDR_W) - (1 << 30) + self.rng.randrange(0, 1 << 20, 64)
        self.limit = self.base + WINDOW_BYTES
        self.dones = 0

    # ---------------------------------------------------------------------------------------------
    # Set-up, stress, waiting
    # ---------------------------------------------------------------------------------------------
    async def reset(self) -> None:
        d = self.dut
        d.rst_n.value = 0
        d.abort.value = 0
        d.start.value = 0
        d.win_base.value = self.base
        d.win_limit.value = self.limit
        d.lfsr_seed.value = self.rng.getrandbits(32)
        for s in ("op", "flags", "batch", "ch", "h", "w", "k", "stride", "src0", "src1", "src2",
                  "dst"):
            getattr(d, s).value = 0
        self.stall(0, 0)
        await ClockCycles(d.clk, 5)
        d.rst_n.value = 1
        await ClockCycles(d.clk, 2)

    def stall(self, rd: int, wr: int) -> None:
        self.dut.rds_stall_16.value = rd
        self.dut.wrs_stall_16.value = wr

    def stress(self, level: float) -> None:
        """Random DRAM latency and AXI pauses, stalls on the unit's DMA streams."""
        r = self.rng
        self.dram.pause(r, level)
        pick = lambda: min(12, int(16 * level * r.choice([0.0, 0.5, 1.0, 1.5])))  # noqa: E731
        self.stall(pick(), pick())
        self.dram.latency = r.choice([1, 4, 20, 60]) if level > 0 else r.randint(1, 40)

    def cnt(self, name: str) -> int:
        return int(getattr(self.dut, name).value)

    def state(self) -> str:
        sigs = ["busy", "err_valid", "err_status", "rd_busy", "wr_busy", "done_cnt", "rd_cmds",
                "wr_cmds", "wr_beats", "quiet_bad"]
        inner = ["st", "failed", "rc_p", "ld_p", "ld_full", "ld_ahead", "gen_run", "g_dead", "wc_p",
                 "rd_out", "wr_out", "y_res", "i_res"]
        u = self.dut.u_pool
        return (" ".join(f"{s}={self.cnt(s)}" for s in sigs) + "; u_pool: " +
                " ".join(f"{s}={int(getattr(u, s).value)}" for s in inner))

    async def until(self, cond: object, budget: int, what: str, step: int = 8) -> None:
        async def poll() -> None:
            while not cond():
                await ClockCycles(self.dut.clk, step)
        try:
            await with_timeout(poll(), budget * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: no progress in {budget} cycles; {self.state()} "
                                 f"{self.tag}") from None

    # ---------------------------------------------------------------------------------------------
    # Ops
    # ---------------------------------------------------------------------------------------------
    def values(self, n: int, special_p: float, tie_p: float) -> np.ndarray:
        """Random float32 bit patterns: normals of a random scale, ties, specials, subnormals."""
        g = self.nrng
        v = (g.standard_normal(n) * self.rng.choice([1e-30, 1e-3, 1.0, 1e3, 1e30])).astype(np.float32)
        u = v.view(np.uint32).copy()
        m = g.random(n) < tie_p
        u[m] = g.integers(-2, 3, int(m.sum())).astype(np.float32).view(np.uint32)
        m = g.random(n) < special_p
        u[m] = g.choice(SPECIALS, int(m.sum()))
        m = g.random(n) < special_p / 2
        u[m] = (g.integers(1, 1 << 23, int(m.sum())) | (g.integers(0, 2, int(m.sum())) << 31)
                ).astype(np.uint32)
        return u

    def shape(self, opcode: int, max_dim: int, big: bool = False) -> tuple[int, int, int, int, int, int]:
        """(B, C, H, W, k, s) of a legal op; ``big``: one plane close to the buffer size."""
        r, tn, depth = self.rng, self.tn, self.cfg.vu_buf_depth
        fp = opcode in (OP_MAXFP, OP_AVGFP)
        mult = 2 if opcode == OP_MAXBP else 1
        while True:
            k = r.choice([1, 2, 2, 2, 3, 3, 3, 4, 5, 6, 7])
            s = r.choice([1, 1, 2, 2, 2, 3, 4])
            if big:     # few rounds per beat (k*k or ceil(k/s)^2): a big plane is slow enough
                k = r.choice([1, 2, 3])
                s = r.choice([1, 2, 3]) if fp else r.choice([k, max(1, k - 1), 3])
                # A plane of 55..100 % of the buffer, of a random aspect ratio (1:16 .. 16:1).
                area = int(depth // (tn * mult) * r.uniform(0.55, 1.0))
                a = 2 ** r.uniform(-4, 4)
                if fp:
                    hh = max(k, min(area // k, round((area * a) ** 0.5)))
                    ww = max(k, area // hh)
                else:
                    oh = max(1, min(area, round((area * a) ** 0.5)))
                    ow = max(1, area // oh)
                    hh = (oh - 1) * s + k + r.randint(0, s - 1)
                    ww = (ow - 1) * s + k + r.randint(0, s - 1)
                # several planes: the next plane's load overlaps this one's computation in the
                # ring, as far as the computation frees it (g_dead)
                b, c = r.randint(1, 3), r.randint(1, 2 * tn)
            else:
                hh, ww = r.randint(k, k + max_dim), r.randint(k, k + max_dim)
                b, c = r.randint(1, 3), r.randint(1, 2 * tn + 1)
            oh, ow = (hh - k) // s + 1, (ww - k) // s + 1
            plane = hh * ww if fp else oh * ow * mult
            words = b * -(-c // tn) * tn * (hh * ww + 2 * oh * ow)   # every tensor of the op
            if plane * tn <= depth and words <= WINDOW_BYTES // 16:
                return b, c, hh, ww, k, s

    def make_op(self, opcode: int, b: int, c: int, hh: int, ww: int, k: int, s: int,
                special_p: float = 0.05, tie_p: float = 0.1, idx_mode: str = "random") -> Op:
        from eftrain.descriptors import Descriptor, ErrCode, validate
        from eftrain.golden.layout import fmap_layout
        from eftrain.program import POISON, MemoryPlan

        oh, ow = (hh - k) // s + 1, (ww - k) // s + 1
        xs, ys = (b, c, hh, ww), (b, c, oh, ow)
        plan = MemoryPlan(self.base, self.limit)
        outputs: dict[str, tuple[int, tuple[int, int, int, int]]] = {}

        def tensor(name: str, shape: tuple[int, int, int, int], words: np.ndarray | None) -> int:
            lay = fmap_layout(self.cfg, shape)
            if words is None:
                data = np.full(lay.size, POISON, np.uint32)
                addr = plan.alloc(name, data)
                outputs[name] = (addr, shape)
                return addr
            return plan.alloc(name, lay.pack(words.reshape(shape).view(np.float32)).view(np.uint32))

        n_x, n_y = b * c * hh * ww, b * c * oh * ow
        src0 = src1 = src2 = dst = 0
        if opcode in (OP_MAXFP, OP_AVGFP):
            src0 = tensor("x", xs, self.values(n_x, special_p, tie_p))
            dst = tensor("y", ys, None)
            if opcode == OP_MAXFP:
                src2 = tensor("idx", ys, None)
        else:
            src0 = tensor("dy", ys, self.values(n_y, special_p, tie_p))
            if opcode == OP_MAXBP:
                if idx_mode == "same":     # every window selects one input (collisions when k > s)
                    idx = np.full(n_y, self.rng.randrange(k * k), np.uint32)
                else:
                    idx = self.nrng.integers(0, k * k, n_y).astype(np.uint32)
                src1 = tensor("idx", ys, idx)
            dst = tensor("dx", xs, None)
        d = Descriptor(opcode=opcode, batch=b, m=c, n=c, h=hh, w=ww, k=k, stride=s,
                       src0=src0, src1=src1, src2=src2, dst=dst)
        code = validate(d, self.cfg, (self.base, self.limit))
        assert code == ErrCode.NONE, f"test bug: {d} is not legal ({code.name})"
        # The used window: random words everywhere, the regions on top, a random tail.
        nwords = (plan.top - self.base) // 4 + 64
        image = self.nrng.integers(0, 1 << 32, nwords, dtype=np.uint64).astype(np.uint32)
        image[image == POISON] = 0
        for reg in plan.regions.values():
            lo = (reg.addr - self.base) // 4
            image[lo:lo + reg.data.size] = reg.data
        return Op(d, plan, image, outputs)

    def load(self, op: Op) -> None:
        self.dram.write_words(self.base, op.image)

    async def start(self, op: Op) -> None:
        d, dut = op.desc, self.dut
        await RisingEdge(dut.clk)
        for f in ("batch", "h", "w", "k", "stride", "src0", "src1", "src2", "dst"):
            getattr(dut, f).value = getattr(d, f)
        dut.op.value = d.opcode
        dut.flags.value = d.flags
        dut.ch.value = d.n
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0

    def budget(self, op: Op) -> int:
        d = op.desc
        k, s = d.k, d.stride
        nh = -(-k // s)
        planes = d.batch * -(-d.n // self.tn)
        g = self.tn // self.wpb
        beats = planes * g * (d.h * d.w + 2 * d.oh * d.ow) * (k * k + nh * nh)
        return 20_000 + 12 * beats

    async def run(self, op: Op, what: str) -> int:
        """Load the image, run the op to done, check against the golden machine; cycles."""
        self.load(op)
        await self.start(op)
        want = self.dones + 1
        await self.until(lambda: self.cnt("done_cnt") >= want or self.cnt("err_valid"),
                         self.budget(op), f"{what}: {op.name}")
        assert not self.cnt("err_valid"), f"{what}: {op.name}: unexpected error {self.state()} {self.tag}"
        self.dones = want
        cycles = self.cnt("done_cycle") - self.cnt("start_cycle")
        await ClockCycles(self.dut.clk, 2)
        assert self.cnt("busy") == 0, f"{what}: busy after done {self.tag}"
        self.check(op, what)
        return cycles

    def golden(self, op: Op) -> np.ndarray:
        from eftrain.machine import GoldenMachine

        gm = GoldenMachine(self.cfg, (self.base, self.limit))
        gm.mem[:op.image.size] = op.image
        gm.execute(op.desc)
        return gm.mem[:op.image.size]

    def check(self, op: Op, what: str) -> None:
        from eftrain.program import POISON

        want = self.golden(op)
        got = self.dram.array(self.base, op.image.size)
        out_mask = np.zeros(got.size, bool)
        for addr, shape in op.outputs.values():
            lo = (addr - self.base) // 4
            out_mask[lo:lo + int(np.prod(shape[:1])) * -(-shape[1] // self.tn) * self.tn
                     * shape[2] * shape[3]] = True

        def nan(a: np.ndarray) -> np.ndarray:
            return ((a & 0x7F800000) == 0x7F800000) & ((a & 0x007FFFFF) != 0)

        bad = got != want
        bad &= ~(out_mask & nan(got) & nan(want))
        bad |= (got == POISON) & (want != POISON)
        if not bad.any():
            return
        i = int(np.flatnonzero(bad)[0])
        where = self.locate(op, i)
        # Everything needed to replay the op in Python: the descriptor, the image, both results.
        np.savez("failure.npz", desc=op.desc.encode(), base=self.base, image=op.image, got=got,
                 want=want)
        raise AssertionError(
            f"{what}: {op.name}: {int(bad.sum())} words differ; first at {where}: RTL "
            f"{int(got[i]):#010x}, golden {int(want[i]):#010x} (input image {int(op.image[i]):#010x}) "
            f"{self.tag}")

    def locate(self, op: Op, i: int) -> str:
        addr = self.base + 4 * i
        for reg in op.plan.regions.values():
            if reg.addr <= addr < reg.end:
                off = (addr - reg.addr) // 4
                for name, (a, shape) in op.outputs.items():
                    if a == reg.addr:
                        _, c, hh, ww = shape
                        cbn = -(-c // self.tn)
                        lane = off % self.tn
                        pix = (off // self.tn) % (hh * ww)
                        plane = off // (self.tn * hh * ww)
                        return (f"{name}[b={plane // cbn}, c={(plane % cbn) * self.tn + lane}, "
                                f"h={pix // ww}, w={pix % ww}] (word {off})")
                return f"input {reg.name} word {off}"
        return f"outside every region (byte address {addr:#x})"

    async def abort(self) -> None:
        """Pulse abort (unit + DMA soft reset); the DMA drains; everything idle and clean."""
        d = self.dut
        await RisingEdge(d.clk)
        d.abort.value = 1
        await RisingEdge(d.clk)
        d.abort.value = 0
        await RisingEdge(d.clk)
        assert (self.cnt("busy"), self.cnt("err_valid")) == (0, 0), (
            f"not idle the cycle after abort: {self.state()} {self.tag}")
        await self.until(lambda: not (self.cnt("rd_busy") or self.cnt("wr_busy")), 100_000,
                         "DMA drain after abort")
        await ClockCycles(d.clk, 4)
        assert (self.cnt("busy"), self.cnt("err_valid"), self.cnt("quiet_bad")) == (0, 0, 0), (
            f"not clean after abort: {self.state()} {self.tag}")
        self.dones = self.cnt("done_cnt")


async def _start(dut: object) -> TB:
    tb = TB(dut)
    await tb.reset()
    return tb


ALL_OPS = (OP_MAXFP, OP_MAXBP, OP_AVGFP, OP_AVGBP)


async def _random_ops(tb: TB, n: int, max_dim: int, levels: list[float], big: bool,
                      long: bool = False) -> None:
    r = tb.rng
    for i in range(n):
        level = levels[i % len(levels)]
        tb.stress(level)
        opcode = ALL_OPS[i % 4]
        shape = tb.shape(opcode, max_dim, big=big and i < 4)
        if big and i < 4 and not long:   # one or two big planes here; the ring test has more
            shape = (1, min(shape[1], 2 * tb.tn), *shape[2:])
        op = tb.make_op(opcode, *shape, special_p=r.choice([0.0, 0.02, 0.1]),
                        tie_p=r.choice([0.0, 0.1, 0.5]))
        cycles = await tb.run(op, f"op {i} (stress {level})")
        tb.dut._log.info("op %d %s ok, %d cycles (stress %.1f)", i, op.name, cycles, level)


@cocotb.test()
async def vu_pool_random(dut: object) -> None:
    """Random legal ops of every opcode under random stress, one near-full plane per opcode."""
    tb = await _start(dut)
    small = tb.c["name"] == "zcu102"
    await _random_ops(tb, 8 if small else 16, 4 if small else 9, [0.0, 0.3, 0.1, 0.5], big=True)


@cocotb.test()
async def vu_pool_sweep(dut: object) -> None:
    """Many random ops, larger shapes (slow tier)."""
    tb = await _start(dut)
    await _random_ops(tb, 48, 20, [0.0, 0.2, 0.5, 0.1, 0.3], big=True, long=True)


@cocotb.test()
async def vu_pool_ring(dut: object) -> None:
    """Planes of 55..100 % of the buffer, two to six of them: the ring buffer wraps and each load
    overlaps the previous plane's computation only as far as it has freed the buffer; under
    random stress (which changes how far the load runs ahead)."""
    tb = await _start(dut)
    r = tb.rng
    n = 4 if tb.c["name"] == "zcu102" else 8
    for i in range(n):
        level = r.choice([0.0, 0.1, 0.3, 0.5])
        tb.stress(level)
        opcode = ALL_OPS[i % 4]
        while True:     # at least two planes
            b, c, hh, ww, k, s = tb.shape(opcode, 0, big=True)
            if b * -(-c // tb.tn) >= 2:
                break
        op = tb.make_op(opcode, b, c, hh, ww, k, s, special_p=0.02)
        cycles = await tb.run(op, f"ring op {i} (stress {level})")
        tb.dut._log.info("ring op %d %s ok, %d cycles (stress %.1f)", i, op.name, cycles, level)


@cocotb.test()
async def vu_pool_specials(dut: object) -> None:
    """Inputs made mostly of specials and ties; overlapping windows; colliding BP indices."""
    tb = await _start(dut)
    r = tb.rng
    cases = []
    for opcode in ALL_OPS:
        for k, s in ((3, 1), (2, 1), (3, 2), (2, 2), (7, 3), (1, 2)):
            cases.append((opcode, k, s))
    for i, (opcode, k, s) in enumerate(cases):
        tb.stress(r.choice([0.0, 0.3]))
        hh, ww = r.randint(k, k + 5), r.randint(k, k + 5)
        b, c = r.randint(1, 2), r.randint(1, tb.tn + 1)
        op = tb.make_op(opcode, b, c, hh, ww, k, s, special_p=r.choice([0.3, 0.6]),
                        tie_p=r.choice([0.3, 0.9]),
                        idx_mode="same" if i % 2 else "random")
        await tb.run(op, f"specials case {i}")


@cocotb.test()
async def vu_pool_errors(dut: object) -> None:
    """SLVERR on an input plane, DECERR on an output plane, a read outside the window (a write
    outside it is the validator's business: the DMA takes no data for a command failing its check)."""
    tb = await _start(dut)
    r = tb.rng
    for it, kind in enumerate(["read", "write", "window", r.choice(["read", "write"])]):
        tb.stress(r.choice([0.0, 0.3]))
        opcode = r.choice(ALL_OPS)
        b, c, hh, ww, k, s = tb.shape(opcode, 6)
        b = max(b, 2)
        op = tb.make_op(opcode, b, c, hh, ww, k, s)
        src = op.plan.regions["x" if opcode in (OP_MAXFP, OP_AVGFP) else "dy"]
        out = op.plan.regions["y" if opcode in (OP_MAXFP, OP_AVGFP) else "dx"]
        if kind == "read":
            lo = src.addr + 4 * r.randrange(src.data.size // 2, src.data.size)
            tb.dram.faults.append((lo, lo + 4, RESP_SLVERR))
            status = ST_SLVERR
        elif kind == "write":
            lo = out.addr + 4 * r.randrange(0, out.data.size)
            tb.dram.faults.append((lo, lo + 4, RESP_DECERR))
            status = ST_DECERR
        else:   # the window starts inside the input (the lowest region): its reads fail the check
            status = ST_OUT_OF_WINDOW
        tb.load(op)
        if kind == "window":
            tb.dut.win_base.value = src.addr + 4 * r.randrange(1, src.data.size)
        await tb.start(op)
        await tb.until(lambda: tb.cnt("err_valid"), tb.budget(op), f"errors {it} ({kind}): {op.name}")
        assert tb.cnt("err_status") == status, (
            f"errors {it} ({kind}): status {tb.cnt('err_status')}, want {status} {tb.state()} {tb.tag}")
        # The unit stays failed and silent; the DMA's read side drains (nothing waits on the unit).
        await ClockCycles(tb.dut.clk, r.randint(50, 400))
        await tb.until(lambda: not tb.cnt("rd_busy"), 50_000, f"errors {it}: read side drain")
        assert tb.cnt("busy") and tb.cnt("err_valid") and not tb.cnt("quiet_bad"), (
            f"errors {it} ({kind}): {tb.state()} {tb.tag}")
        assert tb.cnt("done_cnt") == tb.dones, f"errors {it}: done after an error {tb.tag}"
        await tb.abort()
        tb.dram.faults.clear()
        tb.dut.win_base.value = tb.base
        await tb.run(op, f"errors {it}: clean rerun")
        tb.dut._log.info("errors %d (%s, %s) ok", it, kind, op.name)


@cocotb.test()
async def vu_pool_abort(dut: object) -> None:
    """Abort at random moments of running ops under stress, then a clean rerun: each op runs
    once to completion (checked; its cycle count sets the abort moment), then again with an abort
    at a random fraction of that time (sometimes at once, sometimes in the same cycle as done),
    then once more (checked)."""
    tb = await _start(dut)
    r = tb.rng
    small = tb.c["name"] == "zcu102"
    for it in range(4 if small else 6):
        tb.stress(r.choice([0.0, 0.2, 0.5]))
        opcode = ALL_OPS[it % 4]
        op = tb.make_op(opcode, *tb.shape(opcode, 4 if small else 8))
        cycles = await tb.run(op, f"abort {it}: first run")
        tb.load(op)
        await tb.start(op)
        wait = r.choice([1, *(max(1, int(cycles * r.random())) for _ in range(4)), cycles])
        await ClockCycles(tb.dut.clk, wait)
        finished = tb.cnt("done_cnt") > tb.dones
        await tb.abort()
        tb.dut._log.info("abort %d (%s) after %d of %d cycles (%s)", it, op.name, wait, cycles,
                         "after done" if finished else "mid-op")
        await tb.run(op, f"abort {it}: rerun")


@cocotb.test()
async def vu_pool_throughput(dut: object) -> None:
    """Cycles of a few ops without stress against the unit's schedule (printed, bounded).

    Per plane the schedule is ``load`` beats into the buffer (one per cycle) and ``compute`` =
    R cycles per output beat + ACC_L; the load of the next plane overlaps the computation, so
    planes that fit the buffer twice take max(load, compute) each after the first load. Full-size
    planes overlap only as far as the computation frees the buffer: bounded by load + compute.
    """
    tb = await _start(dut)
    tb.stress(0.0)
    tb.dram.latency = 20
    res = {}
    tn, g = tb.tn, tb.tn // tb.wpb
    acc_l = tb.cfg.acc_interleave
    pix = tb.cfg.vu_buf_depth // tn
    cases = (("maxpool_fp_2x2s2", OP_MAXFP, 2, 2), ("avgpool_fp_3x3s1", OP_AVGFP, 3, 1),
             ("maxpool_bp_2x2s2", OP_MAXBP, 2, 2), ("avgpool_bp_2x2s2", OP_AVGBP, 2, 2))
    for frac in (0.5, 1.0):
        for name, opcode, k, s in cases:
            fp = opcode in (OP_MAXFP, OP_AVGFP)
            mult = 2 if opcode == OP_MAXBP else 1
            side = int((pix * frac / mult) ** 0.5)     # of the buffered plane (x, or dy)
            hh = ww = side if fp else (side - 1) * s + k
            b, c = 3, tn
            op = tb.make_op(opcode, b, c, hh, ww, k, s)
            cycles = await tb.run(op, f"throughput {name}")
            d = op.desc
            planes = b * -(-c // tn)
            nh = -(-k // s)
            if fp:
                load, out, rounds = d.h * d.w * g, d.oh * d.ow * g, k * k
            else:
                load, out, rounds = d.oh * d.ow * g * mult, d.h * d.w * g, nh * nh
            compute = rounds * out + acc_l
            serial = planes * (load + compute)
            overlap = load + planes * max(load, compute)
            key = f"{name}_{'half' if frac < 1 else 'full'}_buffer"
            res[key] = {"cycles": cycles, "overlapped": overlap, "serial": serial,
                        "load_beats": planes * load, "write_beats": planes * out * (2 if
                                                                                   opcode == OP_MAXFP else 1),
                        "ratio_to_overlapped": round(cycles / overlap, 3)}
            tb.dut._log.info("%s: %d cycles, overlapped schedule %d, serial %d", key, cycles, overlap,
                             serial)
            bound = overlap if frac < 1 else serial
            assert cycles <= 1.1 * bound + 300, f"{key}: {cycles} cycles > {bound} {tb.tag}"
    Path("throughput.json").write_text(json.dumps(res, indent=1))
