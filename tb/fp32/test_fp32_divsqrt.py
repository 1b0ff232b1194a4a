"""Bit-exact IEEE-754 binary32 regression of rtl/fp32_div.sv and rtl/fp32_sqrt.sv.

One Verilated model (``fp32_divsqrt_tb.sv``) holds fp32_div and fp32_sqrt at their default
LATENCY (read from the RTL: the modules' documented defaults, not a configuration value) and at
:data:`OTHER_LATENCIES` (the minimum 1, each pipeline layout: register after PREP only, before
ROUND too, uneven and even iteration groups, a register after every iteration, a delay line),
all fed by the same stream. Per unit, operand pairs (directed corner cases plus random pairs
spread over the classes of :mod:`fp32_divsqrt_vectors`) go through in bulk: Python writes
``vectors.hex``, the harness pushes one pair per cycle (random idle cycles from an LFSR), checks
every ``out_valid`` against ``in_valid`` delayed by that instance's LATENCY and writes one results
file per instance; Python compares with NumPy float32 (``np.divide``, ``np.sqrt``: correctly
rounded) bit for bit (NaN matches NaN, and the RTL's NaN must be the canonical 0x7FC00000).

``test_fp32_divsqrt_regression[div]`` streams the divider's vector set and checks fp32_div at
every instantiated latency (all results at the default, the first ``VAR_VEC`` at the others);
fp32_sqrt's outputs on the same operands are checked too (extra coverage for free). ``[sqrt]``
is the mirror image. The ``slow`` variant streams ten times as many pairs.

Environment:
    FP32_SEED          fix the random seed (default: fresh, printed and named in every failure)
    FP32_DIVSQRT_N     random pairs per unit in the quick test (default 200_000)
    WAVES=1            traced model, dump.fst in the run directory (see tb/common/sim.py)
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from tb.common import sim
from tb.fp32 import fp32_divsqrt_vectors as dsv
from tb.fp32 import fp32_vectors as vec

HERE = Path(__file__).resolve().parent
HARNESS = [HERE / "fp32_divsqrt_sink.sv", HERE / "fp32_divsqrt_tb.sv"]
OPS = dsv.OPS
MODULE = {"div": "fp32_div", "sqrt": "fp32_sqrt"}
# Besides the default: the minimum; PREP register only; PREP and ROUND registers; 2 even groups of
# 12 iterations; 5 uneven groups (5, 5, 5, 5, 4); 15 uneven groups; one register per iteration
# (the most registers without a delay line); two delay registers after the output register.
OTHER_LATENCIES = (1, 2, 3, 4, 7, 17, 26, 28)
MAX_VEC = 1 << 21    # vector memory: the slow test's pairs + directed cases fit
VAR_VEC = 1 << 18    # results kept by the instances at the other latencies (all of the quick test)
IDLE_16 = 4          # a quarter of the cycles idle on average
N_QUICK = 200_000
N_SLOW = 2_000_000


# ------------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator): clock, reset, wait for the harness to finish.
# ------------------------------------------------------------------------------------------------

@cocotb.test()
async def fp32_divsqrt_stream(dut) -> None:
    """Drive clock and reset, wait for `done`, check the harness's own counters."""
    n = int(os.environ["FP32_STREAM_N"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    # IDLE_16/16 of the cycles are idle on average; 4 cycles per pair means the harness hung
    await with_timeout(RisingEdge(dut.done), 10 * (4 * n + 1000), "ns")
    await ClockCycles(dut.clk, 2)  # the results files are written the cycle after `done`
    assert int(dut.n_in.value) == n, f"sent {int(dut.n_in.value)} of {n}"
    assert int(dut.n_out_min.value) == n, f"an instance returned {int(dut.n_out_min.value)} of {n}"
    assert int(dut.valid_errors.value) == 0, (
        f"{int(dut.valid_errors.value)} cycles with out_valid != in_valid delayed by LATENCY")


# ------------------------------------------------------------------------------------------------
# pytest side
# ------------------------------------------------------------------------------------------------

def _seed() -> int:
    env = os.environ.get("FP32_SEED")
    return int(env, 0) if env else secrets.randbits(32)


@functools.cache
def default_latency(op: str) -> int:
    """The unit's default LATENCY, as declared in its RTL (``parameter int LATENCY = <n>``)."""
    text = (sim.RTL_DIR / f"{MODULE[op]}.sv").read_text()
    m = re.search(r"parameter\s+int\s+LATENCY\s*=\s*(\d+)", text)
    if m is None:
        raise RuntimeError(f"no default LATENCY in rtl/{MODULE[op]}.sv")
    return int(m.group(1))


def _latencies(op: str) -> list[int]:
    return sorted({default_latency(op), *OTHER_LATENCIES})


def _mask(op: str) -> str:
    bits = sum(1 << k for k in _latencies(op))
    return f"64'h{bits:016x}"


def _model() -> sim.Model:
    return sim.build(
        toplevel="fp32_divsqrt_tb",
        sources=[*sim.rtl_sources("eftrain_fp32_pkg", "fp32_div", "fp32_sqrt"), *HARNESS],
        tag="fp32_divsqrt",
        unit="default_latencies",
        parameters={
            "DIV_LATENCY": default_latency("div"),
            "SQRT_LATENCY": default_latency("sqrt"),
            "DIV_LATS": _mask("div"),
            "SQRT_LATS": _mask("sqrt"),
            "MAX_VEC": MAX_VEC,
            "VAR_VEC": VAR_VEC,
            "IDLE_16": IDLE_16,
        },
        build_args=["-O3"],
    )


def _stream(vectors: vec.Vectors, seed: int, run_name: str) -> Path:
    """Stream ``vectors`` through every instance; return the run directory with the results."""
    if len(vectors) > MAX_VEC:
        raise ValueError(f"{len(vectors)} vectors exceed the harness's MAX_VEC={MAX_VEC}")
    model = _model()
    work = sim.run_dir(model, run_name)
    for old in work.glob("results_*.hex"):
        old.unlink()
    vec.write_hex_pairs(work / "vectors.hex", vectors.a, vectors.b)
    lfsr_seed = (seed * 0x9E3779B1) & 0xFFFFFFFF or 1
    try:
        sim.run(
            model,
            test_module="test_fp32_divsqrt",
            directory=work,
            extra_env={"FP32_STREAM_N": str(len(vectors))},
            plusargs=[f"+n={len(vectors)}", f"+lfsr_seed={lfsr_seed:08x}", "+res=results"],
            seed=seed,
        )
    except sim.SimulationError as exc:
        raise AssertionError(f"{exc} (seed={seed})") from None
    return work


def _check_instance(op: str, latency: int, vectors: vec.Vectors, exp: np.ndarray, work: Path,
                    seed: int) -> str | None:
    """Compare one instance's results file with the oracle; a report on failure, else None."""
    got = vec.read_hex32(work / f"results_{op}_L{latency}.hex")
    depth = MAX_VEC if latency == default_latency(op) else VAR_VEC
    if len(got) != min(len(vectors), depth):
        return (f"fp32_{op} LATENCY={latency}: {len(got)} results for {len(vectors)} vectors "
                f"(seed={seed})")
    n = len(got)
    part = vec.Vectors(a=vectors.a[:n], b=vectors.b[:n], cls=vectors.cls[:n])
    mismatch = vec.compare(exp[:n], got)
    if mismatch.ok:
        return None
    return f"[LATENCY={latency}] " + dsv.format_report(op, seed, part, exp[:n], got, mismatch)


def _regression(op: str, n_random: int) -> None:
    vec.check_oracle_ieee()
    seed = _seed()
    vectors = dsv.generate(op, n_random, seed)
    print(f"fp32_{op} vector set: seed={seed} vectors={len(vectors)}")
    work = _stream(vectors, seed, f"regression_{op}_{n_random}")

    problems: list[str] = []
    checked = 0
    for unit in OPS:
        exp = dsv.expected(unit, vectors.a, vectors.b)
        for latency in _latencies(unit):
            report = _check_instance(unit, latency, vectors, exp, work, seed)
            checked += min(len(vectors), MAX_VEC if latency == default_latency(unit) else VAR_VEC)
            if report:
                problems.append(report)

    # the hand-written directed expectations, independently of NumPy
    _, hand = dsv.directed_vectors(op)
    got = vec.read_hex32(work / f"results_{op}_L{default_latency(op)}.hex")
    directed = vec.compare(hand, got[: len(hand)])
    if not directed.ok:
        problems.append(f"fp32_{op}: directed case(s) wrong (seed={seed}):\n" + "\n".join(
            f"  {dsv.DIRECTED[op][i][3]}: a={vectors.a[i]:08x} b={vectors.b[i]:08x} "
            f"expected={hand[i]:08x} got={got[i]:08x}" for i in directed.index))
    print(f"fp32_{op} vector set: {checked} results checked over both units and all latencies")
    assert not problems, f"run dir {work}\n" + "\n".join(problems)


def test_directed_expectations_match_numpy() -> None:
    """The hand-written directed results agree with the NumPy oracle (checks both)."""
    vec.check_oracle_ieee()
    for op in OPS:
        directed, hand = dsv.directed_vectors(op)
        exp = dsv.expected(op, directed.a[: len(hand)], directed.b[: len(hand)])
        mismatch = vec.compare(hand, exp, canonical_nan=False)
        assert mismatch.ok, [dsv.DIRECTED[op][i][3] for i in mismatch.index]


def test_default_latency_documented() -> None:
    """Each unit's header documents its default LATENCY and the minimum 1."""
    for op in OPS:
        text = (sim.RTL_DIR / f"{MODULE[op]}.sv").read_text()
        header = text.split("`default_nettype none", 1)[0]
        assert f"(>= 1, default {default_latency(op)})" in header, MODULE[op]


@pytest.mark.parametrize("op", OPS)
def test_fp32_divsqrt_regression(op: str) -> None:
    """~200k pairs of ``op``'s vector set through both units at every latency, bit-exact."""
    _regression(op, int(os.environ.get("FP32_DIVSQRT_N", N_QUICK)))


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS)
def test_fp32_divsqrt_regression_slow(op: str) -> None:
    """2M pairs of ``op``'s vector set: the default latency on all, the others on the first
    ``VAR_VEC``."""
    _regression(op, N_SLOW)
