"""Tests of the descriptor validator rtl/eftrain_desc_check.sv against eftrain.descriptors.validate().

``test_verdicts_match_validate``: about 6000 descriptors per configuration (the vector mix of
:mod:`tb.desc_check.desc_vectors`: legal layers with default / DSE / extreme tilings, legal
vector ops of every opcode with their flags and scalars, one-field perturbations aimed at every
(opcode, error code) pair, buffer, plane-buffer, BN / global-pool count, scalar and window
boundaries, 16-bit maximal dims, random fields, random words) go through the unit in bulk. ONE Verilated model
(``desc_check_tb.sv``) holds one unit per configuration, each fed by its own stream
(``desc_check_stream.sv``): Python writes ``vectors_<i>.hex``, the stream runs one check after
another (random gaps, starts in the done cycle, abandoned decoy starts, garbage on the inputs
while a check runs) and writes ``{latency, code}`` per vector to ``results_<i>.hex``. Every code
must equal ``validate()`` (the whole format, no ``implemented`` map) on the decoded words, every
latency the documented ``LATENCY``, the streams' protocol counters (busy, spurious done, code
held) must be zero, and every (opcode, code) pair ``validate()`` can produce at the
configuration (``desc_vectors.reachable_pairs``) must occur in every configuration. The
per-code counts and the (opcode, code) matrix are printed (``pytest -s``).

Configurations: the presets ``ci``, ``zcu102``, ``odd`` and the corner ``wide`` (Tm = 7,
Tn = 255, L = 5, a 1024-bit bus, 2^24-word buffers, a plane buffer of 2^24 words, which is
not a multiple of Tn), whose buffers admit tensors far beyond 2^64 bytes, so the window rule
sees the full width of the size arithmetic.

Also: the result checker catches injected errors; the exact-division identity of the RTL header
holds for every divisor the RTL allows; ``verilator --lint-only -Wall`` at every configuration
and at parameter corners; Yosys ``synth_xilinx -family xcup`` at the zcu102 preset (no latches;
prints LUT / FF / DSP counts, about 16 s).

Environment: ``DESC_CHECK_SEED`` fixes the seed (printed, and named in every failure);
``WAVES=1`` builds a traced model (tb/common/sim.py).
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import secrets
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from tb.common import sim

if TYPE_CHECKING:
    from eftrain.config import HwConfig
    from eftrain.descriptors import ErrCode
    from tb.desc_check.desc_vectors import Vector

HERE = Path(__file__).resolve().parent
RTL_MODULES = ("regs/eftrain_csr_pkg", "eftrain_desc_check")
LATENCY = 8  # start cycle to done cycle: rtl/eftrain_desc_check.sv, LATENCY
MAX_VEC = 1 << 14
CONFIGS = ("ci", "zcu102", "odd", "wide")


# ------------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator): clock, reset, wait for the harness.
# ------------------------------------------------------------------------------------------------


@cocotb.test()
async def desc_check_stream(dut) -> None:
    """Drive clock and reset, wait for `finished`, check the harness's counters."""
    n = int(os.environ["DESC_CHECK_N"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    # a check takes LATENCY cycles plus at most a few idle / decoy cycles; 300 means a hang
    await with_timeout(RisingEdge(dut.finished), 10 * (300 * n + 1000), "ns")
    await ClockCycles(dut.clk, 2)  # the results file is written with `finished`
    assert int(dut.n_done.value) == n, f"{int(dut.n_done.value)} results for {n} vectors"
    assert int(dut.proto_errors.value) == 0, f"{int(dut.proto_errors.value)} protocol errors (busy/done/code)"


# ------------------------------------------------------------------------------------------------
# pytest side
# ------------------------------------------------------------------------------------------------


def _config(name: str) -> HwConfig:
    # eftrain is imported here, not at module level: this module is also imported in the simulator
    from eftrain.config import preset

    if name == "wide":
        return preset("odd").with_(name="wide", tm=7, tn=255, acc_interleave=5, bus_bits=1024,
                                   in_buf_depth=1 << 24, out_buf_depth=1 << 24, w_buf_depth=1 << 16,
                                   vu_buf_depth=1 << 24)
    return preset(name)


def _params(cfg: HwConfig) -> dict[str, int]:
    return {"TM": cfg.tm, "TN": cfg.tn, "ACC_L": cfg.acc_interleave, "IN_DEPTH": cfg.in_buf_depth,
            "OUT_DEPTH": cfg.out_buf_depth, "W_DEPTH": cfg.w_buf_depth, "BUS_BITS": cfg.bus_bits,
            "VU_DEPTH": cfg.vu_buf_depth}


def _seed() -> int:
    env = os.environ.get("DESC_CHECK_SEED")
    return int(env, 0) if env else secrets.randbits(32)


def _describe(v: Vector, cfg: HwConfig) -> str:
    d = v.descriptor()
    return (f"[{v.tag}] op={d.opcode} flags={d.flags:#x} rsv={d.reserved} B={d.batch} M={d.m} N={d.n} "
            f"H={d.h} W={d.w} K={d.k} S={d.stride} P={d.pad} tr={d.tr} chunk={d.chunk} "
            f"src0={d.src0:#x} src1={d.src1:#x} src2={d.src2:#x} dst={d.dst:#x} "
            f"window=[{v.base:#x}, {v.limit:#x})")


def _packed(values: list[int]) -> str:
    """A packed parameter vector: 32 bits per configuration, slot i at [32*i +: 32]."""
    return f"{32 * len(values)}'h" + "".join(f"{v:08x}" for v in reversed(values))


def _model(cfgs: list[HwConfig]) -> sim.Model:
    params = [_params(c) for c in cfgs]
    return sim.build(
        toplevel="desc_check_tb",
        sources=[*sim.rtl_sources(*RTL_MODULES), HERE / "desc_check_stream.sv", HERE / "desc_check_tb.sv"],
        tag="+".join(c.name for c in cfgs),
        unit="desc_check",
        parameters={"NCFG": len(cfgs), **{f"P_{k}": _packed([p[k] for p in params]) for k in params[0]},
                    "EXP_LATENCY": LATENCY, "MAX_VEC": MAX_VEC},
    )


def _check(name: str, cfg: HwConfig, vectors: list[Vector], results: list[int], seed: int,
           work: Path, expected: list[ErrCode] | None = None) -> list[str]:
    """Problems of one configuration's results (empty if all codes and latencies are right).
    ``expected``: the vectors' verdicts if already computed."""
    from eftrain.descriptors import ErrCode

    if len(results) != len(vectors):
        return [f"{name}: {len(results)} results for {len(vectors)} vectors"]
    if expected is None:
        expected = [v.expected(cfg) for v in vectors]
    codes = [r & 0xFF for r in results]
    wrong = [(i, e, got) for i, (e, got) in enumerate(zip(expected, codes, strict=True)) if got != e]
    late = [(i, r >> 8) for i, r in enumerate(results) if (r >> 8) != LATENCY]
    if not wrong and not late:
        return []
    out = [f"{name}: {len(wrong)} wrong codes, {len(late)} wrong latencies of {len(vectors)} "
           f"(seed={seed}, run dir {work})"]
    for i, e, got in wrong[:12]:
        got_name = ErrCode(got).name if got in set(ErrCode) else f"{got:#x}"
        out.append(f"  #{i}: expected {ErrCode(e).name}, got {got_name}: {_describe(vectors[i], cfg)}")
    out += [f"  #{i}: done after {lat} cycles, expected {LATENCY}" for i, lat in late[:4]]
    return out


def test_verdicts_match_validate() -> None:
    """About 6000 descriptors per configuration: every code == validate(), every latency ==
    LATENCY, no protocol error, every (opcode, code) pair validate() can produce produced."""
    from eftrain.descriptors import VALIDATION_CODES, Opcode
    from tb.desc_check import desc_vectors as dv

    cfgs = [_config(n) for n in CONFIGS]
    seed = _seed()
    sets = [dv.generate(cfg, seed + i) for i, cfg in enumerate(cfgs)]
    assert all(2 <= len(v) <= MAX_VEC for v in sets)

    model = _model(cfgs)
    work = sim.run_dir(model, "verdicts")
    for i, vectors in enumerate(sets):
        (work / f"results_{i}.hex").unlink(missing_ok=True)
        dv.write_hex(work / f"vectors_{i}.hex", vectors)
    lfsr_seed = (seed * 0x9E3779B1) & 0xFFFFFFFF or 1
    try:
        sim.run(model, test_module="tb.desc_check.test_desc_check", directory=work,
                extra_env={"DESC_CHECK_N": str(sum(map(len, sets)))},
                plusargs=[*(f"+n{i}={len(v)}" for i, v in enumerate(sets)), f"+lfsr_seed={lfsr_seed:08x}"],
                seed=seed)
    except sim.SimulationError as exc:
        raise AssertionError(f"{exc} (seed={seed})") from None

    problems: list[str] = []
    counts: list[Counter] = []
    pairs: list[Counter] = []
    for i, (name, cfg, vectors) in enumerate(zip(CONFIGS, cfgs, sets, strict=True)):
        text = (work / f"results_{i}.hex").read_text().split()
        results = [int(w, 16) for w in text if not w.startswith("//")]
        expected = [v.expected(cfg) for v in vectors]
        problems += _check(name, cfg, vectors, results, seed, work, expected)
        counts.append(Counter(e.name for e in expected))
        pairs.append(Counter((v.descriptor().opcode, e) for v, e in zip(vectors, expected, strict=True)))
        missing = [c.name for c in VALIDATION_CODES if counts[-1][c.name] == 0]
        if missing:
            problems.append(f"{name}: codes never produced (seed={seed}): {missing}")
        unhit = sorted(p for p in dv.reachable_pairs(cfg) if pairs[-1][p] == 0)
        if unhit:
            problems.append(f"{name}: (opcode, code) pairs never produced (seed={seed}): "
                            + ", ".join(f"({Opcode(op).name}, {c.name})" for op, c in unhit))
        beyond = sorted((op, c.name) for op, c in pairs[-1] if op in set(Opcode)
                        and (op, c) not in dv.reachable_pairs(cfg))
        if beyond:  # reachable_pairs() itself is wrong
            problems.append(f"{name}: pairs outside reachable_pairs(): {beyond}")

    print(f"\ndescriptor verdicts per configuration (seed={seed}):")
    print(f"  {'code':<16}" + "".join(f"{n:>8}" for n in CONFIGS))
    for code in VALIDATION_CODES:
        print(f"  {code.name:<16}" + "".join(f"{c[code.name]:>8}" for c in counts))
    print(f"  {'total':<16}" + "".join(f"{len(v):>8}" for v in sets))
    print(f"\n(opcode, code) counts at {CONFIGS[0]} (-: not reachable):")
    short = [c.name[:7] for c in VALIDATION_CODES]
    print(f"  {'opcode':<11}" + "".join(f"{n:>8}" for n in short))
    reach0 = dv.reachable_pairs(cfgs[0])
    for op in Opcode:
        row = [str(pairs[0][(int(op), c)]) if (int(op), c) in reach0 else "-" for c in VALIDATION_CODES]
        print(f"  {op.name:<11}" + "".join(f"{x:>8}" for x in row))
    assert not problems, "\n".join(problems)


def test_scoreboard_catches_errors(tmp_path: Path) -> None:
    """The checker passes perfect results and reports an injected wrong code, a wrong latency and a
    missing result; the oracle tells neighbouring rules apart (a unit answering NONE cannot pass)."""
    from eftrain.descriptors import Descriptor, ErrCode, Opcode
    from tb.desc_check import desc_vectors as dv

    cfg = _config("ci")
    vectors = dv.generate(cfg, 7, n_per_code=3, n_legal=20, n_dse=0, n_edge=4, n_random=20, n_raw=5,
                          n_vlegal=9, n_per_vcode=1, n_vedge=4)
    perfect = [(LATENCY << 8) | v.expected(cfg) for v in vectors]
    assert _check("ci", cfg, vectors, perfect, 7, tmp_path) == []
    bad = list(perfect)
    bad[3] ^= 0x01
    bad[5] += 1 << 8
    report = _check("ci", cfg, vectors, bad, 7, tmp_path)
    assert "1 wrong codes, 1 wrong latencies" in report[0] and "seed=7" in report[0]
    assert report[1].startswith("  #3: ") and report[2].startswith("  #5: done after 9 cycles")
    assert "results for" in _check("ci", cfg, vectors, perfect[:-1], 7, tmp_path)[0]

    gen = dv.Gen(cfg, random.Random(7))
    d, base, limit = gen.legal_descriptor()
    assert dv.vector(d, base, limit, "t").expected(cfg) == ErrCode.NONE
    assert dv.vector(d, base, base, "t").expected(cfg) == ErrCode.OUT_OF_WINDOW
    assert dv.vector(dataclasses.replace(d, tr=0), base, limit, "t").expected(cfg) == ErrCode.BAD_FIELD
    assert dv.vector(dataclasses.replace(d, m=0), base, limit, "t").expected(cfg) == ErrCode.ZERO_DIM
    def verdict(d: Descriptor, lo: int, hi: int, **change: object) -> ErrCode:
        return dv.vector(dataclasses.replace(d, **change), lo, hi, "t").expected(cfg)

    for op in dv.VECTOR_OPS:  # the vector ops' rules, one neighbour each
        d, base, limit = gen.vlegal_descriptor(op)
        assert verdict(d, base, limit) == ErrCode.NONE
        assert verdict(d, base, base) == ErrCode.OUT_OF_WINDOW
        assert verdict(d, base, limit, tr=1) == ErrCode.BAD_FIELD
        assert verdict(d, base, limit, flags=0x80) == ErrCode.BAD_OPCODE
    d, base, limit = gen.vlegal_descriptor(Opcode.BN_FP)
    assert verdict(d, base, limit, reserved=(0, 0, 0, d.reserved[3], 0)) == ErrCode.BAD_FIELD  # eps = +0
    d, base, limit = gen.vlegal_descriptor(Opcode.SGD)
    assert verdict(d, base, limit, m=d.m + 1) == ErrCode.BAD_FIELD  # off the beat
    line = dv.vector(d, base, limit, "t").hex_line()
    assert len(line) == 160 and int(line[-8:], 16) == int(d.encode()[0]) and int(line[:16], 16) == limit


def test_exact_division() -> None:
    """(x * ceil(2^(17+l) / d)) >> (17 + l) == x // d for every x < 2^17, d = 1..256, l = clog2(d)
    (ceil(C/Tn), ceil(C/Tm)), and for d = 3 with l = 2 (the stride)."""
    import numpy as np

    x = np.arange(1 << 17, dtype=np.int64)
    cases = [(d, (d - 1).bit_length()) for d in range(1, 257)] + [(3, 2)]
    for d, shift in cases:
        m = -(-(1 << (17 + shift)) // d)
        assert m < 1 << 19
        assert np.array_equal((x * m) >> (17 + shift), x // d), (d, shift)


# ------------------------------------------------------------------------------------------------
# Static checks
# ------------------------------------------------------------------------------------------------

LINT_CORNERS = {
    "one-lane-bus32": {"TM": 1, "TN": 1, "ACC_L": 1, "IN_DEPTH": 1, "OUT_DEPTH": 1, "W_DEPTH": 1,
                       "BUS_BITS": 32, "VU_DEPTH": 1},
    "wide-bus1024": {"TM": 256, "TN": 255, "ACC_L": 256, "IN_DEPTH": 1 << 30, "OUT_DEPTH": 65536,
                     "W_DEPTH": 3, "BUS_BITS": 1024, "VU_DEPTH": (1 << 31) - 1},
    "bus64": {"TM": 7, "TN": 12, "ACC_L": 6, "IN_DEPTH": 100, "OUT_DEPTH": 50, "W_DEPTH": 600,
              "BUS_BITS": 64, "VU_DEPTH": 5},
}


@pytest.mark.parametrize("name", [*CONFIGS, *LINT_CORNERS])
def test_verilator_lint_clean(name: str) -> None:
    params = LINT_CORNERS[name] if name in LINT_CORNERS else _params(_config(name))
    root = sim.setup_verilator()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module", "eftrain_desc_check",
           *(f"-G{k}={v}" for k, v in params.items()), *map(str, sim.rtl_sources(*RTL_MODULES))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


def test_yosys_synth_xilinx(tmp_path: Path) -> None:
    """synth_xilinx (UltraScale+) at the zcu102 preset: no latches; prints LUT / FF / DSP counts."""
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install -y yosys)")
    chparam = " ".join(f"-set {k} {v}" for k, v in _params(_config("zcu102")).items())
    files = " ".join(map(str, sim.rtl_sources(*RTL_MODULES)))
    log = tmp_path / "yosys.log"
    script = (f"read_verilog -sv {files}; chparam {chparam} eftrain_desc_check; "
              "synth_xilinx -family xcup -top eftrain_desc_check; stat")
    out = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    text = log.read_text()
    assert "Latch inferred" not in text
    stat = text.rsplit("Number of cells:", 1)[-1]
    cells = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s*$", stat, re.MULTILINE)}
    luts = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]", c))
    ffs = sum(n for c, n in cells.items() if re.fullmatch(r"FD[RSCP]E", c))
    dsps = cells.get("DSP48E2", 0)
    carry = cells.get("CARRY4", 0) + cells.get("CARRY8", 0)
    print(f"\neftrain_desc_check @ zcu102: LUT {luts}  FF {ffs}  DSP48E2 {dsps}  CARRY {carry}")
    assert ffs > 0 and luts > 0
