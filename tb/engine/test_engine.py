"""Bit-exact tests of the unified FP32 engine (rtl/eftrain_engine.sv) against the golden model.

Each test builds the engine for a preset once (``build/<preset>/engine/model``, shared by the
tests of that preset) and runs a list of randomized whole layers in ONE simulation through the
program player (tb/engine/engine_tb.sv, driven by tb/engine/driver.py). Every output word is
compared with :mod:`eftrain.golden.engine` bit for bit (NaN equals NaN), and every tile command's
cycle count (the engine's own ``done_cycles`` and the player's measurement) must equal
:func:`driver.tile_cycles`.

Randomized: kernel 1..7, stride 1..4, padding 0..K-1, batch 1..3, channel counts that are not
multiples of Tm/Tn, bias on/off, tiny and larger output maps, idle cycles on the ports and
back-pressure on the unload responses.

Environment:
    ENGINE_SEED   fix the random seed (default: fresh; printed in every failure message)
    ENGINE_JOBS   random layers per phase and preset (default 8)
    WAVES=1       traced model, dump.fst in the run directory (tb/common/sim.py)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import numpy as np
import pytest

from eftrain.config import HwConfig, preset
from eftrain.golden import engine as golden
from tb.engine import driver as drv

F32 = np.float32
N_JOBS = int(os.environ.get("ENGINE_JOBS", "8"))


def _seed() -> int:
    env = os.environ.get("ENGINE_SEED")
    return int(env, 0) if env else secrets.randbits(32)


def _same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise bit equality, any NaN equal to any NaN."""
    a = np.asarray(a, F32)
    b = np.asarray(b, F32)
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def _check(res: drv.JobResult, want: np.ndarray | None, what: str, seed: int) -> None:
    tag = f"[{what}, ENGINE_SEED={seed:#x}]"
    assert not res.error, f"{tag} {res.error}"
    assert list(res.err) == [0] * len(res.expected), f"{tag} done_err {list(res.err)}"
    assert list(res.cycles) == res.expected, (
        f"{tag} done_cycles {list(res.cycles)} != tile_cycles {res.expected} (modes {res.modes})")
    assert list(res.measured) == res.expected, (
        f"{tag} measured cycles {list(res.measured)} != tile_cycles {res.expected}")
    if want is not None:
        assert res.result is not None, f"{tag} no result"
        assert res.result.shape == want.shape, f"{tag} shape {res.result.shape} != {want.shape}"
        ok = _same_bits(res.result, want)
        if not ok.all():
            idx = np.argwhere(~ok)
            first = tuple(int(v) for v in idx[0])
            raise AssertionError(
                f"{tag} {int((~ok).sum())} of {ok.size} words differ; first at {first}: "
                f"rtl {res.result[first]!r} ({res.result.view(np.uint32)[first]:#010x}) vs golden "
                f"{want[first]!r} ({want.view(np.uint32)[first]:#010x})")


# ------------------------------------------------------------------------------------------------
# Random layers that fit on chip.
# ------------------------------------------------------------------------------------------------

def _stress(rng: np.random.Generator) -> dict[str, int]:
    return {"idle_16": int(rng.choice([0, 0, 3, 8])), "bp_16": int(rng.choice([0, 0, 4, 10])),
            "lfsr_seed": int(rng.integers(1, 1 << 32))}


def _shape(rng: np.random.Generator, cfg: HwConfig, phase: str) -> dict[str, int]:
    """A random layer (M, N, H, W, K, S, P, B) that fits the preset's buffers for ``phase``."""
    for _ in range(10_000):
        k = int(rng.integers(1, 8))
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, k))
        b = int(rng.integers(1, 4))
        m = int(rng.integers(1, 2 * cfg.tm + cfg.tm // 2 + 2))
        n = int(rng.integers(1, 2 * cfg.tn + cfg.tn // 2 + 2))
        tiny = rng.random() < 0.2          # 1x1-ish outputs: the P < ADD_LAT+1 stall
        lo = max(1, k - 2 * p)
        h = lo + int(rng.integers(0, 3 if tiny else 10))
        w = lo + int(rng.integers(0, 3 if tiny else 10))
        oh = golden.conv_out_size(h, k, s, p)
        ow = golden.conv_out_size(w, k, s, p)
        if oh < 1 or ow < 1:
            continue
        kk = k * k
        mt, nt = -(-m // cfg.tm), -(-n // cfg.tn)
        if phase == "fp":
            fits = ((h + 2 * p) * (w + 2 * p) <= cfg.in_buf_depth and oh * ow <= cfg.out_buf_depth
                    and mt * nt * kk <= cfg.w_buf_depth)
        elif phase == "bp":
            nto, mtr = -(-n // cfg.tm), -(-m // cfg.tn)
            fits = ((h + k - 1) * (w + k - 1) <= cfg.in_buf_depth and h * w <= cfg.out_buf_depth
                    and nto * mtr * kk <= cfg.w_buf_depth)
        else:
            fits = ((h + 2 * p) * (w + 2 * p) <= cfg.in_buf_depth and oh * ow <= cfg.out_buf_depth
                    and mt * nt * kk * cfg.acc_interleave <= cfg.w_buf_depth)
        # keep the simulated work small: commands x kernel positions x pixels
        work = b * mt * nt * kk * max(oh * ow, 4)
        if fits and work <= 60_000:
            return {"m": m, "n": n, "h": h, "w": w, "k": k, "s": s, "p": p, "b": b}
    raise RuntimeError("no random layer fits")


def _values(rng: np.random.Generator, shape: tuple[int, ...], specials: bool) -> np.ndarray:
    a = rng.standard_normal(shape).astype(F32)
    if specials:
        pick = rng.random(shape)
        a[pick < 0.08] = F32(-0.0)
        a[(pick >= 0.08) & (pick < 0.14)] = F32(0.0)
        sub = (pick >= 0.14) & (pick < 0.22)
        a[sub] = (rng.standard_normal(int(sub.sum())) * 1e-39).astype(F32)   # subnormals
        big = (pick >= 0.22) & (pick < 0.25)
        a[big] = (rng.choice([-1.0, 1.0], int(big.sum())) * 3.0e38).astype(F32)  # overflow
        a[(pick >= 0.25) & (pick < 0.253)] = F32(np.inf)
        a[(pick >= 0.253) & (pick < 0.256)] = F32(-np.inf)
        a[(pick >= 0.256) & (pick < 0.258)] = F32(np.nan)
    return a


Case = tuple[drv.Job, Callable[[], np.ndarray], str]


def _case(rng: np.random.Generator, cfg: HwConfig, phase: str, specials: bool = False) -> Case:
    """One job and its golden result."""
    d = _shape(rng, cfg, phase)
    m, n, h, w, k, s, p, b = (d[c] for c in "mnhwkspb")
    oh, ow = golden.conv_out_size(h, k, s, p), golden.conv_out_size(w, k, s, p)
    label = f"{phase} M={m} N={n} H={h} W={w} K={k} S={s} P={p} B={b}"
    st = _stress(rng)
    if phase == "fp":
        x = _values(rng, (b, n, h, w), specials)
        wt = _values(rng, (m, n, k, k), specials)
        bias = _values(rng, (m,), specials) if rng.random() < 0.5 else None
        label += f" bias={'on' if bias is not None else 'off'}"
        job = drv.Job("fp", x=x, w=wt, bias=bias, stride=s, padding=p, label=label, **st)
        return job, lambda: golden.conv_fp(x, wt, bias, s, p, cfg), label
    if phase == "bp":
        dy = _values(rng, (b, m, oh, ow), specials)
        wt = _values(rng, (m, n, k, k), specials)
        xs = (b, n, h, w)
        job = drv.Job("bp", dy=dy, w=wt, x_shape=xs, stride=s, padding=p, label=label, **st)
        return job, lambda: golden.conv_bp(dy, wt, xs, s, p, cfg), label
    x = _values(rng, (b, n, h, w), specials)
    dy = _values(rng, (b, m, oh, ow), specials)
    ws = (m, n, k, k)
    job = drv.Job("wu", x=x, dy=dy, w_shape=ws, stride=s, padding=p, label=label, **st)
    return job, lambda: golden.conv_wu(x, dy, ws, s, p, cfg), label


def _run_cases(cfg: HwConfig, cases: list[Case], seed: int) -> None:
    results = drv.run_jobs(cfg, [c[0] for c in cases])
    assert len(results) == len(cases), f"[ENGINE_SEED={seed:#x}] {len(results)} results"
    for (_, want, label), res in zip(cases, results, strict=True):
        _check(res, want(), f"{cfg.name} {label}", seed)


# ------------------------------------------------------------------------------------------------
# Tests.
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase", ["fp", "bp", "wu"])
@pytest.mark.parametrize("name", ["ci", "odd"])
def test_random_layers(name: str, phase: str) -> None:
    """Randomized whole layers of one phase, bit-exact, cycles == tile_cycles."""
    cfg = preset(name)
    seed = _seed()
    rng = np.random.default_rng(seed)
    _run_cases(cfg, [_case(rng, cfg, phase) for _ in range(N_JOBS)], seed)


@pytest.mark.parametrize("name", ["ci", "odd"])
def test_ieee_specials(name: str) -> None:
    """NaN, +-Inf, subnormal, +-0.0 and overflowing inputs in every phase."""
    cfg = preset(name)
    seed = _seed()
    rng = np.random.default_rng(seed)
    _run_cases(cfg, [_case(rng, cfg, ph, specials=True) for ph in ("fp", "bp", "wu", "fp", "wu")],
               seed)


def test_fc_and_fixed_shapes() -> None:
    """FC layers (K = 1 on a 1x1 map, the longest stall), exact-fit and stride-4 corners."""
    cfg = preset("ci")
    seed = _seed()
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    x = _values(rng, (3, 9, 1, 1), False)
    w = _values(rng, (6, 9, 1, 1), False)
    bias = _values(rng, (6,), False)
    dy = _values(rng, (3, 6, 1, 1), False)
    cases.append((drv.Job("fp", x=x, w=w, bias=bias), lambda: golden.conv_fp(x, w, bias, cfg=cfg),
                  "fc fp"))
    cases.append((drv.Job("bp", dy=dy, w=w, x_shape=x.shape),
                  lambda: golden.conv_bp(dy, w, x.shape, cfg=cfg), "fc bp"))
    cases.append((drv.Job("wu", x=x, dy=dy, w_shape=w.shape),
                  lambda: golden.conv_wu(x, dy, w.shape, cfg=cfg), "fc wu"))
    # stride 4, K 7, padding 6 (the largest legal), channels 1
    x2 = _values(rng, (2, 1, 9, 10), False)
    w2 = _values(rng, (1, 1, 7, 7), False)
    cases.append((drv.Job("fp", x=x2, w=w2, stride=4, padding=6),
                  lambda: golden.conv_fp(x2, w2, None, 4, 6, cfg), "fp K7 S4 P6"))
    oh, ow = golden.conv_out_size(9, 7, 4, 6), golden.conv_out_size(10, 7, 4, 6)
    dy2 = _values(rng, (2, 1, oh, ow), False)
    cases.append((drv.Job("bp", dy=dy2, w=w2, x_shape=x2.shape, stride=4, padding=6),
                  lambda: golden.conv_bp(dy2, w2, x2.shape, 4, 6, cfg), "bp K7 S4 P6"))
    cases.append((drv.Job("wu", x=x2, dy=dy2, w_shape=w2.shape, stride=4, padding=6),
                  lambda: golden.conv_wu(x2, dy2, w2.shape, 4, 6, cfg), "wu K7 S4 P6"))
    _run_cases(cfg, cases, seed)


def test_illegal_commands_write_nothing() -> None:
    """Every illegal command completes in 3 cycles with its error code and writes nothing."""
    cfg = preset("ci")
    seed = _seed()
    rng = np.random.default_rng(seed)
    prog = drv.Program()
    # A known pattern in both output banks and the first weight words.
    n_out, n_w = 64, 64
    pat_out = rng.standard_normal((2, cfg.tm, n_out)).astype(F32)
    pat_w = rng.standard_normal((cfg.tm, cfg.tn, n_w)).astype(F32)
    for bank in range(2):
        prog.load(drv.Buf.OUT, bank, np.repeat(np.arange(cfg.tm), n_out),
                  np.tile(np.arange(n_out), cfg.tm), pat_out[bank].reshape(-1))
    i_i, j_i, a_i = np.indices(pat_w.shape)
    prog.load(drv.Buf.W, 0, i_i.ravel(), a_i.ravel(), pat_w.reshape(-1), col=j_i.ravel())
    big_l = cfg.acc_interleave
    bad = [
        (dict(mode=5, k=3, rows_out=2, cols_out=2, cols_in=4), drv.Err.MODE),
        (dict(mode=drv.Mode.FP, k=3, rows_out=2, cols_out=2, cols_in=4, acc_init=3), drv.Err.MODE),
        (dict(mode=drv.Mode.FP, k=0, rows_out=2, cols_out=2, cols_in=4), drv.Err.K),
        (dict(mode=drv.Mode.FP, k=3, stride=0, rows_out=2, cols_out=2, cols_in=4), drv.Err.STRIDE),
        (dict(mode=drv.Mode.WU, k=3, stride=5, rows_out=2, cols_out=2, cols_in=4), drv.Err.STRIDE),
        (dict(mode=drv.Mode.FP, k=3, rows_out=0, cols_out=2, cols_in=4), drv.Err.SHAPE),
        (dict(mode=drv.Mode.BP, k=3, rows_out=2, cols_out=3, cols_in=4), drv.Err.SHAPE),
        (dict(mode=drv.Mode.FP, k=3, rows_out=2, cols_out=2, cols_in=4,
              in_base=cfg.in_buf_depth - 15), drv.Err.IN_RANGE),
        (dict(mode=drv.Mode.FP, k=1, rows_out=cfg.in_buf_depth // 4 + 1, cols_out=4, cols_in=4),
         drv.Err.IN_RANGE),
        (dict(mode=drv.Mode.FP, k=1, rows_out=2, cols_out=2, cols_in=2,
              out_base=cfg.out_buf_depth - 3), drv.Err.OUT_RANGE),
        (dict(mode=drv.Mode.FP, k=3, rows_out=2, cols_out=2, cols_in=4,
              w_base=cfg.w_buf_depth - 8), drv.Err.W_RANGE),
        (dict(mode=drv.Mode.WU_CLEAR, k=3, w_base=cfg.w_buf_depth // big_l - 8), drv.Err.W_RANGE),
        (dict(mode=drv.Mode.WU_COMBINE, k=7, w_base=cfg.w_buf_depth // big_l - 48),
         drv.Err.W_RANGE),
        (dict(mode=drv.Mode.WU, k=3, rows_out=2, cols_out=2, cols_in=4, wu_t0=big_l),
         drv.Err.T0),
    ]
    for cmd, _ in bad:
        prog.command(**cmd)
        prog.wait()
    sl_out = [prog.read(drv.Buf.OUT, bank, np.repeat(np.arange(cfg.tm), n_out),
                        np.tile(np.arange(n_out), cfg.tm)) for bank in range(2)]
    sl_w = prog.read(drv.Buf.W, 0, i_i.ravel(), a_i.ravel(), col=j_i.ravel())
    job = drv.Job("raw", program=prog, expected_cycles=[3] * len(bad), **_stress(rng))
    (res,) = drv.run_jobs(cfg, [job])
    tag = f"[ENGINE_SEED={seed:#x}]"
    assert not res.error, f"{tag} {res.error}"
    assert [int(e) for e in res.err] == [int(e) for _, e in bad], f"{tag} error codes {list(res.err)}"
    assert list(res.cycles) == [3] * len(bad), f"{tag} cycles {list(res.cycles)}"
    assert list(res.measured) == [3] * len(bad), f"{tag} measured {list(res.measured)}"
    for bank in range(2):
        got = res.responses[sl_out[bank]].view(F32).reshape(cfg.tm, n_out)
        assert _same_bits(got, pat_out[bank]).all(), f"{tag} output bank {bank} was written"
    got_w = res.responses[sl_w].view(F32).reshape(pat_w.shape)
    assert _same_bits(got_w, pat_w).all(), f"{tag} weight buffer was written"


def test_port_conflicts_stall() -> None:
    """Loads and unloads that need a port the running command owns wait for its done."""
    cfg = preset("ci")
    tm, tn = cfg.tm, cfg.tn
    prog = drv.Program()
    k, rows, cols, cin = 3, 4, 4, 6
    n_in = cin * (rows + k - 1)
    prog.load(drv.Buf.IN, 0, np.repeat(np.arange(tn), n_in), np.tile(np.arange(n_in), tn),
              np.ones(tn * n_in, F32))
    i_i, j_i, r_i = np.indices((tm, tn, k * k))
    prog.load(drv.Buf.W, 0, i_i.ravel(), r_i.ravel(), np.ones(i_i.size, F32), col=j_i.ravel())
    pattern = np.arange(1, tm * rows * cols + 1, dtype=F32).reshape(tm, rows * cols)
    prog.load(drv.Buf.OUT, 0, np.repeat(np.arange(tm), rows * cols),
              np.tile(np.arange(rows * cols), tm), pattern.reshape(-1))
    prog.command(drv.Mode.FP, k, 1, rows, cols, cin, acc_init=drv.AccInit.CONTINUE)
    # The FP tile owns output bank 0's write port: this word must land after the tile.
    prog.load(drv.Buf.OUT, 0, 0, 0, np.array([777.0], F32))
    prog.wait()
    sl_out = prog.read(drv.Buf.OUT, 0, np.repeat(np.arange(tm), rows * cols),
                       np.tile(np.arange(rows * cols), tm))
    # WU_CLEAR owns the weight write port: this word must survive the clear.
    prog.command(drv.Mode.WU_CLEAR, 7)
    prog.load(drv.Buf.W, 0, 1, 5, np.array([555.0], F32), col=1)
    prog.wait()
    sl_w = prog.read(drv.Buf.W, 0, 1, np.array([5, 6]), col=1)
    expected = [drv.tile_cycles(cfg, drv.Mode.FP, k, rows, cols),
                drv.tile_cycles(cfg, drv.Mode.WU_CLEAR, 7)]
    (res,) = drv.run_jobs(cfg, [drv.Job("raw", program=prog, expected_cycles=expected)])
    _check(res, None, "port conflicts", 0)
    want = pattern + F32(k * k * tn)
    want[0, 0] = 777.0
    assert _same_bits(res.responses[sl_out].view(F32).reshape(tm, rows * cols), want).all()
    assert list(res.responses[sl_w]) == [np.float32(555.0).view(np.uint32), 0x8000_0000]


VARIANTS = {
    # odd L (COMBINE tree with a pass-through), Tn = 3 (tree pass-through lane), short latencies
    "var-2x3-L5": dict(tm=2, tn=3, acc_interleave=5, mul_latency=1, add_latency=2,
                       in_buf_depth=512, out_buf_depth=256, w_buf_depth=600),
    # degenerate array: one multiplier, no tree adders, L = ADD_LAT + 1 = 2, long multiplier
    "var-1x1-L2": dict(tm=1, tn=1, acc_interleave=2, mul_latency=3, add_latency=1,
                       in_buf_depth=512, out_buf_depth=256, w_buf_depth=600),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_configs(variant: str) -> None:
    """Non-preset parameters: any Tm, Tn, L, latencies (the golden model follows Tn and L)."""
    cfg = preset("ci").with_(name=variant, **VARIANTS[variant])
    seed = _seed()
    rng = np.random.default_rng(seed)
    cases = [_case(rng, cfg, ph) for ph in ("fp", "bp", "wu") for _ in range(3)]
    cases.append(_case(rng, cfg, "wu", specials=True))
    _run_cases(cfg, cases, seed)


def test_scoreboard_catches_errors() -> None:
    """The checks fail on one flipped bit, a wrong cycle count and a wrong error code."""
    want = np.array([1.0, -0.0, np.nan], F32)
    good = drv.JobResult(want.copy(), np.zeros(0, np.uint32), np.zeros(1, np.int64),
                         np.array([19]), np.array([19]), [19], [0], 19)
    _check(good, want, "self-test", 0)
    flipped = want.copy()
    flipped.view(np.uint32)[1] ^= 0x8000_0000     # -0.0 -> +0.0
    bad_bits = drv.JobResult(flipped, good.responses, good.err, good.cycles, good.measured,
                             good.expected, good.modes, 19)
    with pytest.raises(AssertionError, match="1 of 3 words differ"):
        _check(bad_bits, want, "self-test", 0)
    bad_cycles = drv.JobResult(want, good.responses, good.err, np.array([20]), good.measured,
                               good.expected, good.modes, 19)
    with pytest.raises(AssertionError, match="done_cycles"):
        _check(bad_cycles, want, "self-test", 0)
    bad_err = drv.JobResult(want, good.responses, np.array([4]), good.cycles, good.measured,
                            good.expected, good.modes, 19)
    with pytest.raises(AssertionError, match="done_err"):
        _check(bad_err, want, "self-test", 0)


def test_tile_cycles_formula() -> None:
    """The documented formula at the ci preset (Tn=4: two tree levels), pure Python."""
    c = preset("ci")
    assert drv.tile_cycles(c, drv.Mode.FP, 3, 4, 4) == 9 * 16 + 2 + 6 + 3 + 4
    assert drv.tile_cycles(c, drv.Mode.BP, 1, 1, 1) == 1 * 4 + 2 + 6 + 3 + 4   # stall to ADD_LAT+1
    assert drv.tile_cycles(c, drv.Mode.WU, 3, 2, 5) == 9 * 10 + 2 + 3 + 4
    assert drv.tile_cycles(c, drv.Mode.WU_CLEAR, 2) == 4 * 4 + 3
    assert drv.tile_cycles(c, drv.Mode.WU_COMBINE, 2) == 2 * 4 * 3 + 1 * 4 + 3 + 4


@pytest.mark.slow
def test_zcu102_small() -> None:
    """One small layer per phase on the 16x16 build (slow: the model takes minutes to build)."""
    cfg = preset("zcu102")
    seed = _seed()
    rng = np.random.default_rng(seed)
    _run_cases(cfg, [_case(rng, cfg, ph) for ph in ("fp", "bp", "wu")], seed)
