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

The load/unload port is checked on its own too (``test_wide_port_*``): random beats with random
first lanes and masks against a Python model of the header's mapping, zero fills, port timing
between MARKs, back-pressure. Bus widths (words per beat): 4 at the presets, 2 and 8 at the
variants (quick tier, no extra build); 1, 2, 8 at ci, 8 at odd and 1 at a Tm > Tn variant in
the slow tier (each one more build). test_engine_synth lints WPB 1 and 16 as well.

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
from eftrain.golden.tolerance import same_bits
from tb.engine import driver as drv

F32 = np.float32
N_JOBS = int(os.environ.get("ENGINE_JOBS", "8"))


def _seed() -> int:
    env = os.environ.get("ENGINE_SEED")
    return int(env, 0) if env else secrets.randbits(32)


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
        ok = same_bits(res.result, want)
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
    prog = drv.Program.for_config(cfg)
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
    sl_out = [prog.read_words(drv.Buf.OUT, bank, np.repeat(np.arange(cfg.tm), n_out),
                              np.tile(np.arange(n_out), cfg.tm)) for bank in range(2)]
    sl_w = prog.read_words(drv.Buf.W, 0, i_i.ravel(), a_i.ravel(), col=j_i.ravel())
    job = drv.Job("raw", program=prog, expected_cycles=[3] * len(bad), **_stress(rng))
    (res,) = drv.run_jobs(cfg, [job])
    tag = f"[ENGINE_SEED={seed:#x}]"
    assert not res.error, f"{tag} {res.error}"
    assert [int(e) for e in res.err] == [int(e) for _, e in bad], f"{tag} error codes {list(res.err)}"
    assert list(res.cycles) == [3] * len(bad), f"{tag} cycles {list(res.cycles)}"
    assert list(res.measured) == [3] * len(bad), f"{tag} measured {list(res.measured)}"
    for bank in range(2):
        got = res.words(sl_out[bank]).reshape(cfg.tm, n_out)
        assert same_bits(got, pat_out[bank]).all(), f"{tag} output bank {bank} was written"
    got_w = res.words(sl_w).reshape(pat_w.shape)
    assert same_bits(got_w, pat_w).all(), f"{tag} weight buffer was written"


def test_port_conflicts_stall() -> None:
    """Loads and unloads that need a port the running command owns wait for its done."""
    cfg = preset("ci")
    tm, tn = cfg.tm, cfg.tn
    prog = drv.Program.for_config(cfg)
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
    sl_out = prog.read_words(drv.Buf.OUT, 0, np.repeat(np.arange(tm), rows * cols),
                             np.tile(np.arange(rows * cols), tm))
    # WU_CLEAR owns the weight write port: this word must survive the clear.
    prog.command(drv.Mode.WU_CLEAR, 7)
    prog.load(drv.Buf.W, 0, 1, 5, np.array([555.0], F32), col=1)
    prog.wait()
    sl_w = prog.read_words(drv.Buf.W, 0, 1, np.array([5, 6]), col=1)
    expected = [drv.tile_cycles(cfg, drv.Mode.FP, k, rows, cols),
                drv.tile_cycles(cfg, drv.Mode.WU_CLEAR, 7)]
    (res,) = drv.run_jobs(cfg, [drv.Job("raw", program=prog, expected_cycles=expected)])
    _check(res, None, "port conflicts", 0)
    want = pattern + F32(k * k * tn)
    want[0, 0] = 777.0
    assert same_bits(res.words(sl_out).reshape(tm, rows * cols), want).all()
    assert list(res.responses[sl_w, 0]) == [np.float32(555.0).view(np.uint32), 0x8000_0000]


VARIANTS = {
    # odd L (COMBINE tree with a pass-through), Tn = 3 (tree pass-through lane), short latencies;
    # a 64-bit bus: 2 words per beat, Tn and Tm not multiples of it
    "var-2x3-L5-w2": dict(tm=2, tn=3, acc_interleave=5, mul_latency=1, add_latency=2,
                          in_buf_depth=512, out_buf_depth=256, w_buf_depth=600, bus_bits=64),
    # degenerate array: one multiplier, no tree adders, L = ADD_LAT + 1 = 2, long multiplier;
    # a 256-bit bus: 8 words per beat, 7 of them beyond every lane count
    "var-1x1-L2-w8": dict(tm=1, tn=1, acc_interleave=2, mul_latency=3, add_latency=1,
                          in_buf_depth=512, out_buf_depth=256, w_buf_depth=600, bus_bits=256),
    # a 32-bit bus: the single-word port (1 word per beat), Tm > Tn (slow tier: one more build)
    "var-3x2-w1": dict(tm=3, tn=2, acc_interleave=4, mul_latency=2, add_latency=2,
                       in_buf_depth=512, out_buf_depth=256, w_buf_depth=600, bus_bits=32),
}


def _config(name: str) -> HwConfig:
    """A preset, a test variant, or ``<preset>-w<WPB>``: a preset with another bus width."""
    if name in VARIANTS:
        return preset("ci").with_(name=name, **VARIANTS[name])
    base, sep, wpb = name.rpartition("-w")
    if sep and wpb.isdigit():
        return preset(base).with_(name=name, bus_bits=32 * int(wpb))
    return preset(name)


SLOW_VARIANTS = {"var-3x2-w1"}


@pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.slow) if v in SLOW_VARIANTS
                                     else v for v in sorted(VARIANTS)])
def test_variant_configs(variant: str) -> None:
    """Non-preset parameters: any Tm, Tn, L, latencies (the golden model follows Tn and L)."""
    cfg = _config(variant)
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


# ------------------------------------------------------------------------------------------------
# The wide load / unload port: beats, masks, lane wrap, flip, zero fill, timing, back-pressure.
# ------------------------------------------------------------------------------------------------

class _PortModel:
    """What the engine's buffers should hold after load beats and fills (the header's mapping)."""

    def __init__(self, cfg: HwConfig) -> None:
        self.cfg = cfg
        c = cfg
        self.inb = np.zeros((2, c.tn, c.in_buf_depth), np.uint32)
        self.outb = np.zeros((2, c.tm, c.out_buf_depth), np.uint32)
        self.w = np.zeros((c.tm, c.tn, c.w_buf_depth), np.uint32)
        self.bias = np.zeros(c.tm, np.uint32)

    def load(self, buf: drv.Buf, bank: int, lane: int, addr: int, data: np.ndarray, mask: int,
             col: int = 0, k: int = 0, kh: int = 0, kw: int = 0, flip: int = 0) -> None:
        c = self.cfg
        for w in range(c.words_per_beat):
            if not (mask >> w) & 1:
                continue
            v = data[w]
            lw, cw = (lane + w) % 256, (col + w) % 256
            if buf == drv.Buf.IN and lw < c.tn and addr < c.in_buf_depth:
                self.inb[bank, lw, addr] = v
            elif buf == drv.Buf.OUT and lw < c.tm and addr < c.out_buf_depth:
                self.outb[bank, lw, addr] = v
            elif buf == drv.Buf.BIAS and lw < c.tm:
                self.bias[lw] = v
            elif buf == drv.Buf.W:
                if flip:
                    i, j, a = cw, lane, addr + (k - 1 - kh) * k + (k - 1 - kw)
                else:
                    i, j, a = lane, cw, addr + kh * k + kw
                if i < c.tm and j < c.tn and a < c.w_buf_depth:
                    self.w[i, j, a] = v

    def fill(self, buf: drv.Buf, bank: int, base: int, count: int) -> None:
        if buf == drv.Buf.IN:
            self.inb[bank, :, base:base + count] = 0
        elif buf == drv.Buf.OUT:
            self.outb[bank, :, base:base + count] = 0
        elif buf == drv.Buf.W:
            self.w[:, :, base:base + count] = 0
        else:
            self.bias[:] = 0

    def read(self, buf: drv.Buf, bank: int, lane: int, addr: int, col: int,
             mask: int) -> tuple[list[int], int]:
        """The response beat (words, mask) of one unload request."""
        c = self.cfg
        words, got = [], 0
        for w in range(c.words_per_beat):
            lw, cw = (lane + w) % 256, (col + w) % 256
            v = None
            if (mask >> w) & 1:
                if buf == drv.Buf.IN and lw < c.tn and addr < c.in_buf_depth:
                    v = self.inb[bank, lw, addr]
                elif buf == drv.Buf.OUT and lw < c.tm and addr < c.out_buf_depth:
                    v = self.outb[bank, lw, addr]
                elif buf == drv.Buf.W and lane < c.tm and cw < c.tn and addr < c.w_buf_depth:
                    v = self.w[lane, cw, addr]
                elif buf == drv.Buf.BIAS and lw < c.tm:
                    v = self.bias[lw]
            words.append(0 if v is None else int(v))
            got |= (v is not None) << w
        return words, got


def _first_lane(rng: np.random.Generator, count: int, wpb: int) -> int:
    """A beat's first lane: inside, at or beyond the lane count, or wrapped (256 - r)."""
    r = rng.random()
    if r < 0.15 and wpb > 1:
        return 256 - int(rng.integers(1, wpb))
    if r < 0.25:
        return count + int(rng.integers(0, 3))
    return int(rng.integers(0, count))


def _round_trip_program(cfg: HwConfig, rng: np.random.Generator, timing: bool
                        ) -> tuple[drv.Program, list[tuple[list[int], int]], dict[str, int]]:
    """Random beats, fills and reads of every buffer; the expected response beats; and (with
    ``timing``) the port-timing probes between MARKs: name -> expected cycles."""
    c = cfg
    wpb = c.words_per_beat
    full = (1 << wpb) - 1
    prog = drv.Program(wpb)
    mod = _PortModel(c)
    span = 64                                  # addresses checked per buffer/bank (>= 49)
    for buf, banks in ((drv.Buf.IN, 2), (drv.Buf.OUT, 2), (drv.Buf.W, 1), (drv.Buf.BIAS, 1)):
        for bank in range(banks):
            prog.fill(buf, bank, 0, span)
            mod.fill(buf, bank, 0, span)

    def rnd_data() -> np.ndarray:
        return rng.integers(0, 1 << 32, wpb, dtype=np.uint64).astype(np.uint32)

    def rnd_mask() -> int:
        return full if rng.random() < 0.5 else int(rng.integers(0, full + 1))

    def beat(buf: drv.Buf, bank: int, lane: int, addr: int, **kw: int) -> None:
        data, mask = rnd_data(), rnd_mask()
        prog.load_beats(buf, bank, lane, addr, data.reshape(1, wpb), mask=mask, **kw)
        mod.load(buf, bank, lane, addr, data, mask, **kw)

    for step in range(400):
        kind = int(rng.integers(0, 6))
        if kind == 0:
            depth = c.in_buf_depth
            addr = int(rng.integers(0, span)) if rng.random() < 0.95 else depth + 3
            beat(drv.Buf.IN, int(rng.integers(0, 2)), _first_lane(rng, c.tn, wpb), addr)
        elif kind == 1:
            depth = c.out_buf_depth
            addr = int(rng.integers(0, span)) if rng.random() < 0.95 else depth + 1
            beat(drv.Buf.OUT, int(rng.integers(0, 2)), _first_lane(rng, c.tm, wpb), addr)
        elif kind in (2, 3):
            k = int(rng.integers(1, 8))
            flip = kind == 3
            lane = int(rng.integers(0, (c.tn if flip else c.tm) + 1))
            col = _first_lane(rng, c.tm if flip else c.tn, wpb)
            beat(drv.Buf.W, 0, lane, int(rng.integers(0, span - k * k + 1)), col=col, k=k,
                 kh=int(rng.integers(0, k)), kw=int(rng.integers(0, k)), flip=int(flip))
        elif kind == 4:
            beat(drv.Buf.BIAS, 0, _first_lane(rng, c.tm, wpb), 0)
        elif step % 7 == 0:
            buf = drv.Buf(int(rng.integers(0, 4)))
            bank = int(rng.integers(0, 2))
            base = int(rng.integers(0, span))
            count = int(rng.integers(0, span - base + 1))
            prog.fill(buf, bank, base, count)
            mod.fill(buf, bank, base, count)

    expect: list[tuple[list[int], int]] = []

    def req(buf: drv.Buf, bank: int, lane: int, addr: int, col: int = 0,
            mask: int | None = None) -> None:
        m = full if mask is None else mask
        prog.read(buf, bank, lane, addr, col=col, mask=m)
        expect.append(mod.read(buf, bank, lane, addr, col, m))

    for buf, banks, count, depth in ((drv.Buf.IN, 2, c.tn, c.in_buf_depth),
                                     (drv.Buf.OUT, 2, c.tm, c.out_buf_depth)):
        for bank in range(banks):
            for addr in [*range(span), depth, 0xFFFF]:
                for first in range(0, count + 1, wpb):        # one beyond: all words absent
                    req(buf, bank, first, addr)
                req(buf, bank, _first_lane(rng, count, wpb), addr, mask=rnd_mask())
    for addr in [*range(span), c.w_buf_depth]:
        for i in range(c.tm + 1):
            for first in range(0, c.tn, wpb):
                req(drv.Buf.W, 0, i, addr, col=first)
            req(drv.Buf.W, 0, i, addr, col=_first_lane(rng, c.tn, wpb), mask=rnd_mask())
    for first in range(0, c.tm + 1, wpb):
        req(drv.Buf.BIAS, 0, first, 0)
    req(drv.Buf.BIAS, 0, 256 - 1, 0)

    probes: dict[str, int] = {}
    if timing:
        # MARK at t, then the probe, then MARK: the marks differ by the probe's port cycles + 1.
        n = 40
        prog.mark()
        data = np.zeros((n, wpb), np.uint32)
        prog.load_beats(drv.Buf.IN, 1, 0, span + np.arange(n), data)    # one beat per cycle
        prog.mark()
        probes["load 40 beats"] = n + 1
        for cnt in (0, 1, 37):
            prog.fill(drv.Buf.OUT, 1, span, cnt)                         # one address per cycle
            mod.fill(drv.Buf.OUT, 1, span, cnt)
            prog.load(drv.Buf.IN, 1, 0, span, np.zeros(1, F32))
            prog.mark()
            probes[f"fill {cnt} + 1 beat"] = max(cnt, 1) + 1 + 1
        prog.fill(drv.Buf.BIAS, 0, 0, 500)                               # bias: one cycle
        mod.fill(drv.Buf.BIAS, 0, 0, 500)
        prog.mark()
        probes["fill bias"] = 1 + 1
        prog.fill(drv.Buf.BIAS, 0, 0, 0)
        prog.load_beats(drv.Buf.BIAS, 0, 0, 0, np.zeros((1, wpb), np.uint32), mask=0)
        prog.read(drv.Buf.OUT, 1, np.zeros(n, np.int64), span + np.arange(n) % 37)  # sustained
        expect.extend(mod.read(drv.Buf.OUT, 1, 0, span + a % 37, 0, full) for a in range(n))
        prog.mark()
        probes["fill bias + empty beat + 40 reads"] = 2 + n + 1
    return prog, expect, probes


def _check_round_trip(res: drv.JobResult, expect: list[tuple[list[int], int]], tag: str) -> None:
    assert not res.error, f"{tag} {res.error}"
    want = np.array([w for w, _ in expect], np.uint32)
    want_mask = np.array([m for _, m in expect], np.uint32)
    assert res.responses.shape == want.shape, f"{tag} {res.responses.shape} responses"
    bad = np.flatnonzero((res.responses != want).any(axis=1) | (res.rsp_mask != want_mask))
    assert bad.size == 0, (
        f"{tag} {bad.size} of {len(expect)} response beats differ; first {int(bad[0])}: got "
        f"{[hex(v) for v in res.responses[bad[0]]]} mask {int(res.rsp_mask[bad[0]]):#x}, want "
        f"{[hex(v) for v in want[bad[0]]]} mask {int(want_mask[bad[0]]):#x}")


ROUND_TRIP_QUICK = ["ci", "odd", "var-2x3-L5-w2", "var-1x1-L2-w8"]   # WPB 4, 4, 2, 8: no extra build
ROUND_TRIP_SLOW = ["ci-w1", "ci-w2", "ci-w8", "odd-w8"]


@pytest.mark.parametrize("name", [*ROUND_TRIP_QUICK,
                                  *(pytest.param(n, marks=pytest.mark.slow)
                                    for n in [*ROUND_TRIP_SLOW, *sorted(SLOW_VARIANTS)])])
def test_wide_port_round_trip(name: str) -> None:
    """Random beats (random first lane incl. beyond the lane count and wrapped, random masks,
    straight and flipped weights, addresses beyond the depth), zero fills and wide reads of every
    buffer give the header's mapping word for word and mask for mask, with and without
    handshake stress; one beat per cycle on both ports, a fill of n addresses in n cycles."""
    cfg = _config(name)
    seed = _seed()
    rng = np.random.default_rng(seed)
    prog, expect, probes = _round_trip_program(cfg, rng, timing=True)
    prog2, expect2, _ = _round_trip_program(cfg, rng, timing=False)
    jobs = [drv.Job("raw", program=prog), drv.Job("raw", program=prog2, **_stress(rng))]
    res, res2 = drv.run_jobs(cfg, jobs)
    tag = f"[{name} WPB={cfg.words_per_beat}, ENGINE_SEED={seed:#x}]"
    _check_round_trip(res, expect, tag)
    _check_round_trip(res2, expect2, tag + " (stress)")
    marks = np.array(res.marks)
    got = dict(zip(probes, (int(d) for d in np.diff(marks)), strict=True))
    assert got == probes, f"{tag} port cycles {got} != {probes}"


@pytest.mark.parametrize("name", ["ci", "var-1x1-L2-w8",
                                  pytest.param("var-3x2-w1", marks=pytest.mark.slow)])
def test_wide_port_conflicts_and_fill(name: str) -> None:
    """Back-pressure with wide beats and fills: what needs a port the running command owns waits
    for its done (beats and fills to the other bank go through meanwhile); a command after a fill,
    and a read of the filled buffer, wait for the fill to finish; fills write +0.0."""
    cfg = _config(name)
    tm, tn, wpb = cfg.tm, cfg.tn, cfg.words_per_beat
    prog = drv.Program(wpb)
    k, rows, cols, cin = 3, 4, 4, 6
    p = rows * cols
    n_in = cin * (rows + k - 1)
    ones_in = np.ones((tn, n_in), F32)
    drv._load_lanes(prog, drv.Buf.IN, 0, ones_in, np.arange(n_in))
    drv._load_lanes(prog, drv.Buf.IN, 1, ones_in, np.arange(n_in))
    drv._load_weight_tile(prog, np.ones((tm, tn, k, k), F32), 0, False)
    pattern = np.arange(1, tm * p + 1, dtype=F32).reshape(tm, p)
    drv._load_lanes(prog, drv.Buf.OUT, 0, pattern, np.arange(p))
    drv._load_lanes(prog, drv.Buf.OUT, 1, pattern, np.arange(p))
    fp = drv.tile_cycles(cfg, drv.Mode.FP, k, rows, cols)
    prog.command(drv.Mode.FP, k, 1, rows, cols, cin, acc_init=drv.AccInit.CONTINUE)
    # Other bank during the tile: lands now (no stall).
    prog.mark()
    nb = prog.n_beats
    drv._load_lanes(prog, drv.Buf.OUT, 1, np.full((tm, 2), 5.0, F32), np.array([0, 1]))
    nb = prog.n_beats - nb
    prog.fill(drv.Buf.OUT, 1, 2, 3)
    prog.mark()
    # The tile's own output bank: wide beats and a fill wait for the done, then land.
    nb2 = prog.n_beats
    drv._load_lanes(prog, drv.Buf.OUT, 0, np.full((tm, 1), 777.0, F32), np.array([0]))
    nb2 = prog.n_beats - nb2
    prog.mark()
    prog.fill(drv.Buf.OUT, 0, 1, 2)
    prog.wait()
    sl0 = drv._read_lanes(prog, drv.Buf.OUT, 0, tm, np.arange(p))
    sl1 = drv._read_lanes(prog, drv.Buf.OUT, 1, tm, np.arange(p))
    # A fill of input bank 1, then at once a command reading it: the command waits for the
    # fill, so it sees zeros only (+0.0 * 1 summed from -0.0 gives +0.0).
    prog.fill(drv.Buf.IN, 1, 0, n_in)
    prog.command(drv.Mode.FP, k, 1, rows, cols, cin, in_bank=1, out_bank=1,
                 acc_init=drv.AccInit.NEG_ZERO)
    prog.wait()
    sl_z = drv._read_lanes(prog, drv.Buf.OUT, 1, tm, np.arange(p))
    # WU_CLEAR owns the weight write port: a weight fill waits and then writes +0.0 over the
    # clear's -0.0; a read right after a fill waits for the fill to end.
    prog.command(drv.Mode.WU_CLEAR, 2)
    prog.fill(drv.Buf.W, 0, 0, 3)
    prog.wait()
    sl_w = prog.read(drv.Buf.W, 0, 0, np.arange(5))
    prog.fill(drv.Buf.OUT, 0, 0, 200)
    sl_f = drv._read_lanes(prog, drv.Buf.OUT, 0, tm, np.array([199]))
    expected = [fp, fp, drv.tile_cycles(cfg, drv.Mode.WU_CLEAR, 2)]
    (res,) = drv.run_jobs(cfg, [drv.Job("raw", program=prog, expected_cycles=expected)])
    _check(res, None, f"{name} wide conflicts", 0)
    rsp = res.responses
    want0 = pattern + F32(k * k * tn)
    want0[:, 0] = 777.0
    want0[:, 1:3] = 0.0
    assert same_bits(sl0(rsp), want0).all(), f"{sl0(rsp)} != {want0}"
    want1 = pattern.copy()
    want1[:, 0:2] = 5.0
    want1[:, 2:5] = 0.0
    assert same_bits(sl1(rsp), want1).all(), f"{sl1(rsp)} != {want1}"
    assert (sl_z(rsp).view(np.uint32) == 0).all(), "the command did not wait for the fill"
    got_w = rsp[sl_w]
    assert (got_w[:3, :min(wpb, tn)] == 0).all(), "the weight fill is not +0.0"
    assert (got_w[3:4, :min(wpb, tn)] == 0x8000_0000).all(), "WU_CLEAR wrote -0.0 at 3"
    assert (sl_f(rsp).view(np.uint32) == 0).all(), "the read did not wait for the fill"
    m = np.array(res.marks)
    # marks: m0 one cycle after the accept, m1 after nb beats and the accept of a fill (MARK
    # does not wait for the fill to end), m2 one cycle after the nb2 beats to the tile's own bank,
    # the first of which is accepted in the done cycle (accept + fp).
    assert m[1] - m[0] == nb + 1 + 1, f"loads to the other bank stalled: {m[1] - m[0]} cycles"
    assert m[2] - m[0] == fp + nb2 - 1, (
        f"the beats to the busy bank landed {m[2] - m[0] - fp - nb2 + 1} cycles late")


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUND_TRIP_SLOW)
def test_bus_width_layers(name: str) -> None:
    """Whole random layers through the port at other bus widths (builds shared with the slow
    round trips): bit-exact, cycles == tile_cycles."""
    cfg = _config(name)
    seed = _seed()
    rng = np.random.default_rng(seed)
    _run_cases(cfg, [_case(rng, cfg, ph) for ph in ("fp", "bp", "wu") for _ in range(2)], seed)
