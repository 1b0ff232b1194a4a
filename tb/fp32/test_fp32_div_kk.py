"""Bit-exact regression of rtl/fp32_div_kk.sv: y = a / float32(k*k), k = 1..7.

One Verilated model (``fp32_div_kk_tb.sv``) holds fp32_div_kk at its default LATENCY and at
:data:`OTHER_LATENCIES`, all fed by the same stream ({a, k} per line of ``vectors.hex``, one per
cycle with random idle cycles). Python compares every result with NumPy float32
(``a / np.float32(k * k)``: correctly rounded, RNE, gradual underflow) bit for bit; a NaN result
must be the canonical 0x7FC00000 (what fp32_div gives, so the average-pooling results do not
change with the divider).

The vector set, per k: the specials (zeros, Infs, NaNs, the subnormal and normal extremes), random
words of every class, every exponent field with random fractions, dense random fractions at the
exponents whose quotients are subnormal or at the normal/subnormal boundary, and exact ties of
the subnormal grid for even k (``(2j + 1) * 2^-150 * k*k``: the only ties a division by k*k can
produce; odd k has none).

Environment: ``FP32_SEED`` fixes the random seed (printed and named in every failure);
``FP32_DIV_KK_N`` scales the random part (default 20_000 per k); ``WAVES=1`` traces.
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
from tb.fp32 import fp32_vectors as vec

HERE = Path(__file__).resolve().parent
HARNESS = [HERE / "fp32_div_kk_tb.sv"]
OTHER_LATENCIES = (1, 2, 3, 4, 5, 26, 28, 29)   # minimum, PREP, PREP+ROUND, groups, 1/iteration, delay
MAX_VEC = 1 << 21
N_QUICK = 20_000
N_SLOW = 80_000
KS = range(1, 8)
SPECIALS = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                     0x7F800001, 0xFFBFFFFF, 0x7FC12345, 0x00000001, 0x80000001, 0x00000002,
                     0x00000003, 0x007FFFFF, 0x807FFFFF, 0x00400000, 0x00800000, 0x80800000,
                     0x00800001, 0x3F800000, 0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000,
                     0x01000000, 0x02000000, 0x02FFFFFF, 0x06000000, 0x41100000, 0x42440000],
                    dtype=np.uint32)


@cocotb.test()
async def fp32_div_kk_stream(dut) -> None:
    """Drive clock and reset, wait for `done`, check the harness's own counters."""
    n = int(os.environ["FP32_STREAM_N"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    await with_timeout(RisingEdge(dut.done), 10 * (4 * n + 1000), "ns")
    await ClockCycles(dut.clk, 2)  # the results files are written the cycle after `done`
    assert int(dut.n_in.value) == n, f"sent {int(dut.n_in.value)} of {n}"
    assert int(dut.n_out_min.value) == n, f"an instance returned {int(dut.n_out_min.value)} of {n}"
    assert int(dut.valid_errors.value) == 0, (
        f"{int(dut.valid_errors.value)} cycles with out_valid != in_valid delayed by LATENCY")


# ------------------------------------------------------------------------------------------------
# pytest side
# ------------------------------------------------------------------------------------------------

@functools.cache
def default_latency() -> int:
    text = (sim.RTL_DIR / "fp32_div_kk.sv").read_text()
    m = re.search(r"parameter\s+int\s+LATENCY\s*=\s*(\d+)", text)
    if m is None:
        raise RuntimeError("no default LATENCY in rtl/fp32_div_kk.sv")
    return int(m.group(1))


def _latencies() -> list[int]:
    return sorted({default_latency(), *OTHER_LATENCIES})


def expected(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """NumPy float32 a / float32(k*k), NaN results canonical."""
    with np.errstate(all="ignore"):
        y = (a.view(np.float32) / (k * k).astype(np.float32)).astype(np.float32).view(np.uint32)
    return np.where(vec.is_nan(y), np.uint32(vec.CANONICAL_NAN), y).astype(np.uint32)


def vectors(n_random: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, k) of the regression (see the module docstring)."""
    rng = np.random.default_rng(seed)
    a_parts: list[np.ndarray] = []
    k_parts: list[np.ndarray] = []

    def add(a: np.ndarray, k: int) -> None:
        a_parts.append(a.astype(np.uint32))
        k_parts.append(np.full(len(a), k, np.uint32))

    def words(exp: np.ndarray) -> np.ndarray:
        n = len(exp)
        sign = rng.integers(0, 2, n, dtype=np.uint64) << 31
        frac = rng.integers(0, 1 << 23, n, dtype=np.uint64)
        return (sign | (exp.astype(np.uint64) << 23) | frac).astype(np.uint32)

    for k in KS:
        add(SPECIALS, k)
        add(rng.integers(0, 1 << 32, n_random, dtype=np.uint64), k)              # any class
        add(words(np.repeat(np.arange(256), max(1, n_random // 256))), k)        # every exponent
        add(words(rng.integers(0, 16, n_random)), k)                             # subnormal results
        if k % 2 == 0:
            # ties of the subnormal grid: a = (2j + 1) * 2^-150 * k*k = M * 2^-149 with
            # M = (2j + 1) * k*k / 2 < 2^24, whose bit pattern is M itself (odd k: no ties)
            j = rng.integers(0, (1 << 24) // (k * k), n_random // 4, dtype=np.uint64)
            m = (2 * j + 1) * np.uint64(k * k // 2)
            add(m | (rng.integers(0, 2, len(m), dtype=np.uint64) << 31), k)
    a = np.concatenate(a_parts)
    k = np.concatenate(k_parts)
    perm = rng.permutation(len(a))
    return a[perm], k[perm]


def _model() -> sim.Model:
    lats = sum(1 << x for x in _latencies())
    return sim.build(
        toplevel="fp32_div_kk_tb",
        sources=[*sim.rtl_sources("eftrain_fp32_pkg", "fp32_div_kk"), *HARNESS],
        tag="fp32_div_kk",
        unit="latencies",
        parameters={"LATS": f"64'h{lats:016x}", "MAX_VEC": MAX_VEC, "IDLE_16": 4},
        build_args=["-O3"],
    )


def _regression(n_random: int) -> None:
    vec.check_oracle_ieee()
    env = os.environ.get("FP32_SEED")
    seed = int(env, 0) if env else secrets.randbits(32)
    a, k = vectors(n_random, seed)
    assert len(a) <= MAX_VEC, f"{len(a)} vectors exceed MAX_VEC={MAX_VEC}"
    model = _model()
    work = sim.run_dir(model, f"regression_{n_random}")
    for old in work.glob("results_*.hex"):
        old.unlink()
    vec.write_hex_pairs(work / "vectors.hex", a, k)
    lfsr_seed = (seed * 0x9E3779B1) & 0xFFFFFFFF or 1
    try:
        sim.run(model, test_module="test_fp32_div_kk", directory=work,
                extra_env={"FP32_STREAM_N": str(len(a))},
                plusargs=[f"+n={len(a)}", f"+lfsr_seed={lfsr_seed:08x}", "+res=results"], seed=seed)
    except sim.SimulationError as exc:
        raise AssertionError(f"{exc} (FP32_SEED={seed})") from None
    exp = expected(a, k)
    problems = []
    for lat in _latencies():
        got = vec.read_hex32(work / f"results_L{lat}.hex")
        mismatch = vec.compare(exp, got)
        if not mismatch.ok:
            lines = [f"fp32_div_kk LATENCY={lat}: {len(mismatch.index)} of {len(a)} wrong "
                     f"(FP32_SEED={seed})"]
            lines += [f"  a={a[i]:08x} k={k[i]} expected={exp[i]:08x} got={got[i]:08x}"
                      for i in mismatch.index[:20]]
            problems.append("\n".join(lines))
    print(f"fp32_div_kk: seed={seed}, {len(a)} operands x {len(_latencies())} latencies checked")
    assert not problems, f"run dir {work}\n" + "\n".join(problems)


def test_default_latency_documented() -> None:
    """The header documents the default LATENCY and the minimum 1."""
    header = (sim.RTL_DIR / "fp32_div_kk.sv").read_text().split("`default_nettype none", 1)[0]
    assert f"(>= 1, default {default_latency()})" in header


def test_fp32_div_kk_regression() -> None:
    """About 0.45M operands (every k) through every instantiated latency, bit-exact with NumPy."""
    _regression(int(os.environ.get("FP32_DIV_KK_N", N_QUICK)))


@pytest.mark.slow
def test_fp32_div_kk_regression_slow() -> None:
    """Four times as many operands (about 1.8M)."""
    _regression(N_SLOW)
