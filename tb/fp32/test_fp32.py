"""Bit-exact IEEE-754 binary32 regression of rtl/fp32_mul.sv and rtl/fp32_add.sv.

One Verilated model (``fp32_stream_tb.sv``) holds fp32_mul at every LATENCY 1..4 and fp32_add at
every LATENCY 1..5 (the configured latencies from the ``ci`` preset included), all fed by the
same stream. Per unit, about a million operand pairs (directed corner cases plus random pairs
spread over the classes of :mod:`fp32_vectors`) go through in bulk: Python writes
``vectors.hex``, the harness pushes one pair per cycle (random idle cycles from an LFSR), checks
every ``out_valid`` against ``in_valid`` delayed by that instance's LATENCY and writes one results
file per instance; Python compares with NumPy float32 bit for bit (NaN matches NaN, and the RTL's
NaN must be the canonical 0x7FC00000).

``test_fp32_regression[mul]`` streams the multiplier's vector set and checks fp32_mul at the
configured latency on all of it and at the other latencies on the first ``VAR_VEC`` results; the
adder's outputs on the same operands are checked too (extra coverage for free). ``[add]`` is the
mirror image.

Environment:
    FP32_SEED   fix the random seed (default: fresh, printed and named in every failure)
    FP32_N      random pairs per unit (default 1_000_000)
    WAVES=1     traced model, dump.fst in the run directory (see tb/common/sim.py)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from tb.common import sim
from tb.fp32 import fp32_vectors as vec

HERE = Path(__file__).resolve().parent
HARNESS = [HERE / "fp32_stream_sink.sv", HERE / "fp32_stream_tb.sv"]
OPS = ("mul", "add")
MAX_VEC = 1 << 21    # vector memory: 1M random pairs + directed cases fit
VAR_VEC = 1 << 15    # results kept by the instances at the other latencies
MIN_LAT_MAX = {"mul": 4, "add": 5}  # instantiate at least LATENCY 1..this (every stage layout)
IDLE_16 = 4          # a quarter of the cycles idle on average
N_DEFAULT = 1_000_000


# ------------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator): clock, reset, wait for the harness to finish.
# ------------------------------------------------------------------------------------------------

@cocotb.test()
async def fp32_stream(dut) -> None:
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


def _latencies() -> dict[str, int]:
    """The configured pipeline latencies: the single source of truth is the HwConfig preset."""
    # imported here, not at module level: this module is also imported inside the simulator,
    # where `eftrain` (it pulls in torch) costs seconds
    from eftrain.config import preset

    cfg = preset("ci")
    return {"mul": cfg.mul_latency, "add": cfg.add_latency}


def _model() -> sim.Model:
    lat = _latencies()
    return sim.build(
        toplevel="fp32_stream_tb",
        sources=[*sim.rtl_sources("eftrain_fp32_pkg", "fp32_mul", "fp32_add"), *HARNESS],
        tag="ci",
        unit="fp32",
        parameters={
            "MUL_LATENCY": lat["mul"],
            "ADD_LATENCY": lat["add"],
            "MUL_LAT_MAX": max(MIN_LAT_MAX["mul"], lat["mul"]),
            "ADD_LAT_MAX": max(MIN_LAT_MAX["add"], lat["add"]),
            "MAX_VEC": MAX_VEC,
            "VAR_VEC": VAR_VEC,
            "IDLE_16": IDLE_16,
        },
        build_args=["-O3"],
    )


def _stream(vectors: vec.Vectors, seed: int, run_name: str) -> Path:
    """Stream ``vectors`` through every instance; return the run directory with the results."""
    model = _model()
    work = sim.run_dir(model, run_name)
    for old in work.glob("results_*.hex"):
        old.unlink()
    vec.write_hex_pairs(work / "vectors.hex", vectors.a, vectors.b)
    lfsr_seed = (seed * 0x9E3779B1) & 0xFFFFFFFF or 1
    try:
        sim.run(
            model,
            test_module="test_fp32",
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
    n = min(len(vectors), len(got))
    if len(got) != min(len(vectors), MAX_VEC if latency == _latencies()[op] else VAR_VEC):
        return f"fp32_{op} LATENCY={latency}: {len(got)} results for {len(vectors)} vectors"
    part = vec.Vectors(a=vectors.a[:n], b=vectors.b[:n], cls=vectors.cls[:n])
    mismatch = vec.compare(exp[:n], got)
    if mismatch.ok:
        return None
    return f"[LATENCY={latency}] " + vec.format_report(op, seed, part, exp[:n], got, mismatch)


def test_directed_expectations_match_numpy() -> None:
    """The hand-written directed results agree with the NumPy oracle (checks both)."""
    vec.check_oracle_ieee()
    for op in OPS:
        directed, hand = vec.directed_vectors(op)
        exp = vec.expected(op, directed.a[: len(hand)], directed.b[: len(hand)])
        mismatch = vec.compare(hand, exp, canonical_nan=False)
        assert mismatch.ok, [vec.DIRECTED[op][i][3] for i in mismatch.index]


@pytest.mark.parametrize("op", OPS)
def test_fp32_regression(op: str) -> None:
    """~1M pairs of ``op``'s vector set through both units at every latency, bit-exact."""
    vec.check_oracle_ieee()
    seed = _seed()
    n_random = int(os.environ.get("FP32_N", N_DEFAULT))
    vectors = vec.generate(op, n_random, seed)
    print(f"fp32_{op} vector set: seed={seed} vectors={len(vectors)}")
    work = _stream(vectors, seed, f"regression_{op}")

    problems: list[str] = []
    lat = _latencies()
    for unit in OPS:
        exp = vec.expected(unit, vectors.a, vectors.b)
        # the unit this vector set was made for at every latency; the other one at its configured
        lats = range(1, max(MIN_LAT_MAX[unit], lat[unit]) + 1) if unit == op else [lat[unit]]
        for latency in lats:
            report = _check_instance(unit, latency, vectors, exp, work, seed)
            if report:
                problems.append(report)

    # the hand-written directed expectations, independently of NumPy
    _, hand = vec.directed_vectors(op)
    got = vec.read_hex32(work / f"results_{op}_L{lat[op]}.hex")
    directed = vec.compare(hand, got[: len(hand)])
    if not directed.ok:
        problems.append(f"fp32_{op}: directed case(s) wrong (seed={seed}):\n" + "\n".join(
            f"  {vec.DIRECTED[op][i][3]}: a={vectors.a[i]:08x} b={vectors.b[i]:08x} "
            f"expected={hand[i]:08x} got={got[i]:08x}" for i in directed.index))
    assert not problems, f"run dir {work}\n" + "\n".join(problems)


def test_scoreboard_catches_errors() -> None:
    """Injected errors (a flipped bit, a wrong zero sign, NaN vs number, a non-canonical NaN)
    must all be reported; NaN payload differences in the oracle must not."""
    vectors, _ = vec.directed_vectors("add")
    exp = vec.expected("add", vectors.a, vectors.b)
    got = np.where(vec.is_nan(exp), np.uint32(vec.CANONICAL_NAN), exp).astype(np.uint32)
    assert vec.compare(exp, got).ok
    finite = np.flatnonzero(~vec.is_nan(exp) & ((exp & 0x7FFFFFFF) != 0))
    zero = np.flatnonzero((exp & 0x7FFFFFFF) == 0)
    nan = np.flatnonzero(vec.is_nan(exp))
    bad = got.copy()
    bad[finite[0]] ^= 1                        # last-bit rounding error
    bad[zero[0]] ^= 0x80000000                 # wrong sign of zero
    bad[nan[0]] = 0x3F800000                   # number instead of NaN
    bad[nan[1]] = 0x7FC00001                   # NaN, but not the canonical one
    bad[finite[1]] = vec.CANONICAL_NAN         # NaN instead of number
    mismatch = vec.compare(exp, bad)
    assert sorted(mismatch.index.tolist()) == sorted([finite[0], zero[0], nan[0], nan[1], finite[1]])
    assert mismatch.non_canonical_nan == 1
    report = vec.format_report("add", 1234, vectors, exp, bad, mismatch)
    assert "seed=1234" in report and "directed" in report
