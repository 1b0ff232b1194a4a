"""Tests of :mod:`eftrain.golden.reference` against independent float64 definitions.

Every op is re-implemented here from its textbook definition with plain NumPy (loops over kernel taps and
windows, explicit formulas), in float64, and compared with the torch-autograd reference.

Tolerance rule (one rule for all ops, both dtypes):

    |got - ref| <= C_SAFETY * n * u * mag        (element-wise)

- ``u`` is the unit roundoff of the dtype under test: 2**-24 for float32, 2**-53 for float64. For float64 the
  bound is below 1e-13 * mag for every size used here. It is deliberately relative to ``mag``, not to
  ``|ref|``: where a sum cancels, ``|ref|`` is much smaller than ``mag`` and an element-wise ``rtol=1e-12``
  would be wrong (float64 relative errors up to ~1e-11 do occur in the weight-gradient sums here).
- ``n`` is the length of the longest chain of rounded operations that produces the element (for a
  dot product of ``n`` terms: ``n`` roundings, one multiply plus ``n - 1`` adds, whatever the order).
- ``mag`` is the sum of the absolute values of the terms (``sum |a_i * b_i|`` for a dot product, computed
  by running the same float64 definition on ``|a|`` and ``|b|``), or, for the non-linear ops (batch norm,
  softmax, SGD), a first-order bound on how the rounding errors of the intermediate quantities propagate;
  each test states its ``n`` and ``mag``.
- ``C_SAFETY = 2`` (the classical bound is ``gamma_n = n*u / (1 - n*u) <= 1.01 * n * u`` for the sizes here;
  the factor 2 covers that and the few extra roundings of exp/log/sqrt/division, each within a couple of
  ulps). The inputs of the float32 runs are exactly representable, so input rounding plays no part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from eftrain.golden import reference as ref

C_SAFETY = 2.0
UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
DTYPES = [np.float64, np.float32]
CHANNELS = [1, 3, 5, 7]


def assert_close(
    got: np.ndarray, want: np.ndarray, *, n: float, mag: np.ndarray | float, dtype: Any, what: str, ctx: str
) -> None:
    """Assert ``|got - want| <= C_SAFETY * n * u * mag`` element-wise (see the module docstring)."""
    dt = np.dtype(dtype)
    assert got.dtype == dt, f"{what} ({ctx}): dtype {got.dtype}, expected {dt}"
    assert got.shape == want.shape, f"{what} ({ctx}): shape {got.shape}, expected {want.shape}"
    tol = C_SAFETY * n * UNIT_ROUNDOFF[dt] * np.broadcast_to(np.asarray(mag, dtype=np.float64), want.shape)
    err = np.abs(got.astype(np.float64) - want)
    bad = ~(err <= tol)  # also catches NaN
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - tol, -np.inf)), want.shape)
        raise AssertionError(
            f"{what} ({ctx}): {int(bad.sum())} of {bad.size} elements beyond C*n*u*mag (n={n}); "
            f"worst at {tuple(int(k) for k in i)}: got {got[i]!r}, want {want[i]!r}, err {err[i]:.3g}, "
            f"tol {tol[i]:.3g}"
        )


def rand(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, scale: float = 1.0) -> np.ndarray:
    """Random normal values, rounded to ``dtype`` (the float64 definitions then see those exact values)."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


# --------------------------------------------------------------------------------------------------------
# Independent float64 definitions
# --------------------------------------------------------------------------------------------------------


def out_size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def conv_def(x: np.ndarray, w: np.ndarray, s: int, p: int) -> np.ndarray:
    """y[b,o,i,j] = sum_{c,kh,kw} w[o,c,kh,kw] * xpad[b,c,s*i+kh,s*j+kw] (loop over c, kh, kw)."""
    b, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = out_size(h, kh, s, p), out_size(wd, kw, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((b, o, ho, wo))
    for ci in range(c):
        for r in range(kh):
            for q in range(kw):
                tap = xp[:, ci, r : r + s * (ho - 1) + 1 : s, q : q + s * (wo - 1) + 1 : s]  # [b, ho, wo]
                y += tap[:, None, :, :] * w[None, :, ci, r, q, None, None]
    return y


def conv_bp_def(dy: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], s: int, p: int) -> np.ndarray:
    """dx[b,c,s*i+kh-p,s*j+kw-p] += sum_o dy[b,o,i,j] * w[o,c,kh,kw]; padding positions dropped."""
    b, c, h, wd = x_shape
    _, _, kh, kw = w.shape
    ho, wo = dy.shape[2:]
    dxp = np.zeros((b, c, h + 2 * p, wd + 2 * p))
    for ci in range(c):
        for r in range(kh):
            for q in range(kw):
                contrib = (dy * w[None, :, ci, r, q, None, None]).sum(axis=1)  # [b, ho, wo]
                dxp[:, ci, r : r + s * (ho - 1) + 1 : s, q : q + s * (wo - 1) + 1 : s] += contrib
    return dxp[:, :, p : p + h, p : p + wd]


def conv_wu_def(x: np.ndarray, dy: np.ndarray, w_shape: tuple[int, ...], s: int, p: int) -> np.ndarray:
    """dw[o,c,kh,kw] = sum_{b,i,j} dy[b,o,i,j] * xpad[b,c,s*i+kh,s*j+kw]."""
    _, c, kh, kw = w_shape
    ho, wo = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dw = np.zeros(w_shape)
    for ci in range(c):
        for r in range(kh):
            for q in range(kw):
                tap = xp[:, ci, r : r + s * (ho - 1) + 1 : s, q : q + s * (wo - 1) + 1 : s]
                dw[:, ci, r, q] = (dy * tap[:, None, :, :]).sum(axis=(0, 2, 3))
    return dw


def windows(h: int, w: int, k: int, s: int) -> list[tuple[int, int, int, int]]:
    """(i, j, top, left) of every k x k window of stride s in an h x w plane (floor mode)."""
    return [(i, j, i * s, j * s) for i in range((h - k) // s + 1) for j in range((w - k) // s + 1)]


def maxpool_def(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Window scan; first maximum in row-major window order; idx = h*W + w in the input plane."""
    b, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    y = np.zeros((b, c, ho, wo))
    idx = np.zeros((b, c, ho, wo), dtype=np.int64)
    for i, j, t, lft in windows(h, w, k, s):
        win = x[:, :, t : t + k, lft : lft + k].reshape(b, c, k * k)
        a = np.argmax(win, axis=2)  # first occurrence on ties
        y[:, :, i, j] = np.take_along_axis(win, a[..., None], axis=2)[..., 0]
        idx[:, :, i, j] = (t + a // k) * w + (lft + a % k)
    return y, idx


def maxpool_bp_def(dy: np.ndarray, idx: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    b, c, h, w = x_shape
    dx = np.zeros((b, c, h * w))
    bb, cc = np.meshgrid(np.arange(b), np.arange(c), indexing="ij")
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            np.add.at(dx, (bb, cc, idx[:, :, i, j]), dy[:, :, i, j])
    return dx.reshape(x_shape)


def avgpool_def(x: np.ndarray, k: int, s: int) -> np.ndarray:
    b, c, h, w = x.shape
    y = np.zeros((b, c, (h - k) // s + 1, (w - k) // s + 1))
    for i, j, t, lft in windows(h, w, k, s):
        y[:, :, i, j] = x[:, :, t : t + k, lft : lft + k].sum(axis=(2, 3)) / (k * k)
    return y


def avgpool_bp_def(dy: np.ndarray, x_shape: tuple[int, ...], k: int, s: int) -> np.ndarray:
    dx = np.zeros(x_shape)
    for i, j, t, lft in windows(x_shape[2], x_shape[3], k, s):
        dx[:, :, t : t + k, lft : lft + k] += dy[:, :, i, j, None, None] / (k * k)
    return dx


def cover_count(size: int, k: int, s: int) -> int:
    """Most windows covering one input position along one axis: ceil(k / s), capped by the window count."""
    return min(-(-k // s), (size - k) // s + 1)


# --------------------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------------------

# (seed, K or (KH, KW), stride, padding, bias). Together: every K in 1..7, every stride in 1..4, padding from
# 0 to K-1, bias on and off; the spatial sizes drawn per seed make (H + 2P - K) % S != 0 common.
CONV_CASES = [
    (100, 1, 1, 0, False),
    (101, 1, 2, 0, True),
    (102, 2, 1, 1, True),
    (103, 2, 2, 0, False),
    (104, 3, 1, 1, True),
    (105, 3, 2, 2, False),
    (106, 3, 3, 0, True),
    (107, 4, 2, 3, True),
    (108, 4, 4, 1, False),
    (109, 5, 1, 2, False),
    (110, 5, 3, 4, True),
    (111, 5, 4, 0, True),
    (112, 6, 2, 5, True),
    (113, 6, 4, 2, False),
    (114, 7, 1, 3, True),
    (115, 7, 3, 6, False),
    (116, 7, 4, 0, True),
    (117, (3, 5), 2, 1, True),
]


def conv_problem(seed: int, k: int | tuple[int, int], s: int, p: int, dtype: Any) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    kh, kw = (k, k) if isinstance(k, int) else k
    b = int(rng.integers(1, 5))
    c, o = (int(v) for v in rng.choice(CHANNELS, size=2))
    h = int(rng.integers(max(1, kh - 2 * p), kh + 10))
    w = int(rng.integers(max(1, kw - 2 * p), kw + 10))
    x = rand(rng, (b, c, h, w), dtype)
    wt = rand(rng, (o, c, kh, kw), dtype)
    bias = rand(rng, (o,), dtype)
    ho, wo = out_size(h, kh, s, p), out_size(w, kw, s, p)
    dy = rand(rng, (b, o, ho, wo), dtype)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={x.shape} w={wt.shape} S={s} P={p}"
    return {"x": x, "w": wt, "bias": bias, "dy": dy, "ctx": ctx}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "k", "s", "p", "with_bias"), CONV_CASES)
def test_conv2d(seed: int, k: int | tuple[int, int], s: int, p: int, with_bias: bool, dtype: Any) -> None:
    pr = conv_problem(seed, k, s, p, dtype)
    x, w, dy, ctx = pr["x"], pr["w"], pr["dy"], pr["ctx"]
    bias = pr["bias"] if with_bias else None
    o, c, kh, kw = w.shape
    b, ho, wo = x.shape[0], dy.shape[2], dy.shape[3]
    ax, aw, ady = np.abs(f64(x)), np.abs(f64(w)), np.abs(f64(dy))

    # FP: each output is a dot product of c*kh*kw terms (+1 for the bias).
    y = ref.conv2d_fp(x, w, bias, stride=s, padding=p)
    want = conv_def(f64(x), f64(w), s, p)
    mag = conv_def(ax, aw, s, p)
    if bias is not None:
        want += f64(bias)[None, :, None, None]
        mag += np.abs(f64(bias))[None, :, None, None]
    assert_close(y, want, n=c * kh * kw + 1, mag=mag, dtype=dtype, what="conv2d_fp", ctx=ctx)

    # BP: each input position collects at most o*kh*kw products.
    dx = ref.conv2d_bp(dy, w, x.shape, stride=s, padding=p)
    want = conv_bp_def(f64(dy), f64(w), x.shape, s, p)
    mag = conv_bp_def(ady, aw, x.shape, s, p)
    assert_close(dx, want, n=o * kh * kw, mag=mag, dtype=dtype, what="conv2d_bp", ctx=ctx)

    # WU: each weight is a sum of b*ho*wo products.
    dw = ref.conv2d_wu(x, dy, w.shape, stride=s, padding=p)
    want = conv_wu_def(f64(x), f64(dy), w.shape, s, p)
    mag = conv_wu_def(ax, ady, w.shape, s, p)
    assert_close(dw, want, n=b * ho * wo, mag=mag, dtype=dtype, what="conv2d_wu", ctx=ctx)

    # Bias gradient: a sum of b*ho*wo terms.
    db = ref.conv2d_bias_grad(dy)
    want = f64(dy).sum(axis=(0, 2, 3))
    assert_close(db, want, n=b * ho * wo, mag=ady.sum(axis=(0, 2, 3)), dtype=dtype, what="bias_grad", ctx=ctx)


def test_conv2d_bp_uneven_output_size() -> None:
    """(H + 2P - K) % S != 0: the last input rows/columns no window reaches get exactly zero gradient."""
    seed = 7
    rng = np.random.default_rng(seed)
    x_shape, k, s, p = (2, 3, 11, 10), 3, 4, 1  # rows: (11 + 2 - 3) % 4 = 2, columns: (10 + 2 - 3) % 4 = 1
    w = rand(rng, (5, 3, k, k), np.float64)
    ho, wo = out_size(11, k, s, p), out_size(10, k, s, p)
    dy = rand(rng, (2, 5, ho, wo), np.float64)
    dx = ref.conv2d_bp(dy, w, x_shape, stride=s, padding=p)
    ctx = f"seed={seed} x_shape={x_shape} K={k} S={s} P={p}"
    assert dx.shape == x_shape, ctx
    want = conv_bp_def(dy, w, x_shape, s, p)
    mag = conv_bp_def(np.abs(dy), np.abs(w), x_shape, s, p)
    assert_close(dx, want, n=5 * k * k, mag=mag, dtype=np.float64, what="conv2d_bp", ctx=ctx)
    first_unreached = s * (ho - 1) + k - p  # input rows from here on are inside no window
    assert first_unreached < x_shape[2], ctx
    assert np.all(dx[:, :, first_unreached:, :] == 0.0), ctx
    assert np.any(dx[:, :, first_unreached - 1, :] != 0.0), ctx


# --------------------------------------------------------------------------------------------------------
# Fully connected and ReLU
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "with_bias"), [(200, True), (201, False), (202, True), (203, False)])
def test_linear(seed: int, with_bias: bool, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    b, n, m = int(rng.integers(1, 5)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
    x, w, bias, dy = (rand(rng, sh, dtype) for sh in [(b, n), (m, n), (m,), (b, m)])
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={x.shape} w={w.shape} bias={with_bias}"

    y = ref.linear_fp(x, w, bias if with_bias else None)
    want = np.einsum("bn,mn->bm", f64(x), f64(w))  # y[b,m] = sum_n x[b,n] w[m,n]
    mag = np.einsum("bn,mn->bm", np.abs(f64(x)), np.abs(f64(w)))
    if with_bias:
        want += f64(bias)
        mag += np.abs(f64(bias))
    assert_close(y, want, n=n + 1, mag=mag, dtype=dtype, what="linear_fp", ctx=ctx)

    dx = ref.linear_bp(dy, w)  # dx[b,n] = sum_m dy[b,m] w[m,n]
    want = np.einsum("bm,mn->bn", f64(dy), f64(w))
    mag = np.einsum("bm,mn->bn", np.abs(f64(dy)), np.abs(f64(w)))
    assert_close(dx, want, n=m, mag=mag, dtype=dtype, what="linear_bp", ctx=ctx)

    dw = ref.linear_wu(x, dy)  # dw[m,n] = sum_b dy[b,m] x[b,n]
    want = np.einsum("bm,bn->mn", f64(dy), f64(x))
    mag = np.einsum("bm,bn->mn", np.abs(f64(dy)), np.abs(f64(x)))
    assert_close(dw, want, n=b, mag=mag, dtype=dtype, what="linear_wu", ctx=ctx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [300, 301, 302])
def test_relu(seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    shape = (
        int(rng.integers(1, 5)),
        int(rng.choice(CHANNELS)),
        int(rng.integers(1, 9)),
        int(rng.integers(1, 9)),
    )
    x = rand(rng, shape, dtype)
    x.flat[:: max(1, x.size // 3)] = 0.0  # exact zeros: relu'(0) is taken as 0
    dy = rand(rng, shape, dtype)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} shape={shape}"
    y = ref.relu_fp(x)
    assert y.dtype == np.dtype(dtype), ctx
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0.0), err_msg=ctx)  # no rounding: exact
    dx = ref.relu_bp(dy, y)
    assert dx.dtype == np.dtype(dtype), ctx
    np.testing.assert_array_equal(dx, np.where(y > 0, dy, 0.0), err_msg=ctx)


# --------------------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------------------

# (seed, k, s, ties): overlapping (s < k), exact tiling, gaps (s > k), odd sizes; "ties" feeds ReLU'd data
# with many equal zeros to pin down the tie rule (first maximum in row-major window order).
POOL_CASES = [
    (400, 1, 1, False),
    (401, 2, 2, False),
    (402, 2, 1, True),
    (403, 3, 2, False),
    (404, 3, 1, True),
    (405, 3, 3, True),
    (406, 2, 3, False),
    (407, 4, 2, False),
    (408, 5, 4, True),
    (409, 7, 1, False),
    (410, 1, 4, False),
]


def pool_problem(seed: int, k: int, s: int, ties: bool, dtype: Any) -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    shape = (
        int(rng.integers(1, 5)),
        int(rng.choice(CHANNELS)),
        int(rng.integers(k, k + 9)),
        int(rng.integers(k, k + 9)),
    )
    x = rand(rng, shape, dtype)
    if ties:
        x = np.maximum(x, 0.0).astype(dtype)
    return x, rng


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "k", "s", "ties"), POOL_CASES)
def test_maxpool(seed: int, k: int, s: int, ties: bool, dtype: Any) -> None:
    x, rng = pool_problem(seed, k, s, ties, dtype)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={x.shape} k={k} s={s} ties={ties}"
    y, idx = ref.maxpool_fp(x, k, s)
    want_y, want_idx = maxpool_def(f64(x), k, s)
    assert y.dtype == np.dtype(dtype) and idx.dtype == np.int64, ctx
    np.testing.assert_array_equal(y, want_y, err_msg=ctx)  # a selection: exact
    np.testing.assert_array_equal(idx, want_idx, err_msg=ctx)

    dy = rand(rng, y.shape, dtype)
    dx = ref.maxpool_bp(dy, idx, x.shape, k, s)
    # Each input position sums at most (ceil(k/s))^2 routed gradients (exact when windows do not overlap).
    n = cover_count(x.shape[2], k, s) * cover_count(x.shape[3], k, s)
    want = maxpool_bp_def(f64(dy), idx, x.shape)
    mag = maxpool_bp_def(np.abs(f64(dy)), idx, x.shape)
    assert_close(dx, want, n=n, mag=mag, dtype=dtype, what="maxpool_bp", ctx=ctx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "k", "s", "ties"), POOL_CASES)
def test_avgpool(seed: int, k: int, s: int, ties: bool, dtype: Any) -> None:
    x, rng = pool_problem(seed, k, s, ties, dtype)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={x.shape} k={k} s={s}"
    y = ref.avgpool_fp(x, k, s)
    # k*k additions and one division.
    want, mag = avgpool_def(f64(x), k, s), avgpool_def(np.abs(f64(x)), k, s)
    assert_close(y, want, n=k * k + 1, mag=mag, dtype=dtype, what="avgpool_fp", ctx=ctx)

    dy = rand(rng, y.shape, dtype)
    dx = ref.avgpool_bp(dy, x.shape, k, s)
    # Per covering window one division, then up to (ceil(k/s))^2 additions.
    n = cover_count(x.shape[2], k, s) * cover_count(x.shape[3], k, s) + 1
    want, mag = avgpool_bp_def(f64(dy), x.shape, k, s), avgpool_bp_def(np.abs(f64(dy)), x.shape, k, s)
    assert_close(dx, want, n=n, mag=mag, dtype=dtype, what="avgpool_bp", ctx=ctx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [500, 501, 502, 503])
def test_global_avgpool(seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    shape = (
        int(rng.integers(1, 5)),
        int(rng.choice(CHANNELS)),
        int(rng.integers(1, 14)),
        int(rng.integers(1, 14)),
    )
    x = rand(rng, shape, dtype)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={shape}"
    hw = shape[2] * shape[3]
    y = ref.global_avgpool_fp(x)
    want = f64(x).sum(axis=(2, 3), keepdims=True) / hw
    mag = np.abs(f64(x)).sum(axis=(2, 3), keepdims=True) / hw
    assert_close(y, want, n=hw + 1, mag=mag, dtype=dtype, what="global_avgpool_fp", ctx=ctx)

    dy = rand(rng, (shape[0], shape[1], 1, 1), dtype)
    dx = ref.global_avgpool_bp(dy, shape)
    want = np.broadcast_to(f64(dy) / hw, shape)
    assert_close(dx, want, n=1, mag=np.abs(want), dtype=dtype, what="global_avgpool_bp", ctx=ctx)


# --------------------------------------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------------------------------------

# (seed, shape, momentum, training)
BN_CASES = [
    (600, (2, 3, 5, 7), 0.1, True),
    (601, (4, 5, 3, 3), 0.3, True),
    (602, (1, 7, 4, 5), 0.1, True),
    (603, (3, 1, 6, 2), 1.0, True),
    (604, (4, 6), 0.1, True),
    (605, (2, 3, 5, 7), 0.1, False),
    (606, (3, 4), 0.0, False),
]


def bn_problem(seed: int, shape: tuple[int, ...], dtype: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ch = shape[1]
    cshape = (1, ch) + (1,) * (len(shape) - 2)
    offset = rng.uniform(-1.0, 1.0, ch).reshape(cshape)
    return {
        "x": (rng.standard_normal(shape) * rng.uniform(0.5, 2.0) + offset).astype(dtype),
        "gamma": rand(rng, (ch,), dtype),
        "beta": rand(rng, (ch,), dtype),
        "rm": rand(rng, (ch,), dtype, 0.5),
        "rv": rng.uniform(0.5, 2.0, ch).astype(dtype),
        "dy": rand(rng, shape, dtype),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "shape", "momentum", "training"), BN_CASES)
def test_batchnorm_fp(seed: int, shape: tuple[int, ...], momentum: float, training: bool, dtype: Any) -> None:
    pr = bn_problem(seed, shape, dtype)
    eps = 1e-5
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={shape} momentum={momentum} training={training}"
    before = {k: v.copy() for k, v in pr.items()}
    y, rm, rv, saved = ref.batchnorm_fp(
        pr["x"], pr["gamma"], pr["beta"], pr["rm"], pr["rv"], momentum=momentum, eps=eps, training=training
    )
    for k, v in pr.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was modified ({ctx})")

    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    x, g, bt, rm0, rv0 = (f64(pr[k]) for k in ("x", "gamma", "beta", "rm", "rv"))
    n = x.size // shape[1]

    def per_ch(v: np.ndarray) -> np.ndarray:
        return v.reshape((1, -1) + (1,) * (len(shape) - 2))

    if training:
        mean = x.mean(axis=axes)  # definition: batch mean and biased batch variance per channel
        var = ((x - per_ch(mean)) ** 2).mean(axis=axes)
        # kappa = mean(x^2) / var >= 1: the condition number of the variance (relative error amplification).
        kappa = (x**2).mean(axis=axes) / var
        mean_abs = np.abs(x).mean(axis=axes)
        want_rm = (1 - momentum) * rm0 + momentum * mean
        want_rv = (1 - momentum) * rv0 + momentum * var * n / (n - 1)  # unbiased variance for the update
        nr = n
    else:
        mean, var = rm0, rv0
        kappa = np.ones_like(var)
        mean_abs = np.abs(rm0)
        want_rm, want_rv = rm0, rv0
        nr = 1
    invstd = 1.0 / np.sqrt(var + eps)
    want_y = (x - per_ch(mean)) * per_ch(invstd * g) + per_ch(bt)
    # First order: the mean is off by <= n*u*mean|x|, invstd by a relative n*u*kappa; the final
    # subtract/multiply/add round relative to |x| + |mean|, |gamma*xhat| and |beta|. The few elementwise
    # roundings (sub, add eps, sqrt, divide, multiply, add) are counted as 6 more.
    mag_y = per_ch(np.abs(g) * invstd) * (
        np.abs(x - per_ch(mean)) * per_ch(kappa) + np.abs(x) + per_ch(mean_abs)
    )
    mag_y = mag_y + per_ch(np.abs(bt))
    assert_close(y, want_y, n=nr + 6, mag=mag_y, dtype=dtype, what="batchnorm_fp y", ctx=ctx)
    mag_rm = (1 - momentum) * np.abs(rm0) + momentum * mean_abs
    assert_close(rm, want_rm, n=nr + 3, mag=mag_rm, dtype=dtype, what="running_mean", ctx=ctx)
    mag_rv = (1 - momentum) * np.abs(rv0) + momentum * var * kappa * n / max(n - 1, 1)
    assert_close(rv, want_rv, n=nr + 4, mag=mag_rv, dtype=dtype, what="running_var", ctx=ctx)
    assert_close(saved.mean, mean, n=nr, mag=mean_abs, dtype=dtype, what="saved.mean", ctx=ctx)
    assert_close(saved.var, var, n=nr + 2, mag=var * kappa, dtype=dtype, what="saved.var", ctx=ctx)
    assert_close(
        saved.invstd, invstd, n=nr + 4, mag=invstd * kappa, dtype=dtype, what="saved.invstd", ctx=ctx
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "shape"), [(c[0], c[1]) for c in BN_CASES if c[3]])
def test_batchnorm_bp(seed: int, shape: tuple[int, ...], dtype: Any) -> None:
    pr = bn_problem(seed, shape, dtype)
    eps = 1e-5
    ctx = f"seed={seed} dtype={np.dtype(dtype)} x={shape}"
    dx, dgamma, dbeta = ref.batchnorm_bp(pr["dy"], pr["x"], pr["gamma"], eps=eps)

    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    x, g, dy = f64(pr["x"]), f64(pr["gamma"]), f64(pr["dy"])
    n = x.size // shape[1]

    def per_ch(v: np.ndarray) -> np.ndarray:
        return v.reshape((1, -1) + (1,) * (len(shape) - 2))

    mean = x.mean(axis=axes)
    var = ((x - per_ch(mean)) ** 2).mean(axis=axes)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - per_ch(mean)) * per_ch(invstd)
    want_dbeta = dy.sum(axis=axes)
    want_dgamma = (dy * xhat).sum(axis=axes)
    want_dx = per_ch(g * invstd / n) * (n * dy - per_ch(want_dbeta) - xhat * per_ch(want_dgamma))

    # Error of xhat as computed: mean error n*u*mean|x| scaled by invstd, plus |xhat| times the relative
    # error of invstd (n*u*kappa).
    kappa = (x**2).mean(axis=axes) / var
    xhat_mag = np.abs(xhat) * per_ch(kappa) + per_ch(np.abs(x).mean(axis=axes) * invstd)
    assert_close(dbeta, want_dbeta, n=n, mag=np.abs(dy).sum(axis=axes), dtype=dtype, what="dbeta", ctx=ctx)
    mag_dgamma = (np.abs(dy) * xhat_mag).sum(axis=axes)
    assert_close(dgamma, want_dgamma, n=n + 2, mag=mag_dgamma, dtype=dtype, what="dgamma", ctx=ctx)
    # dx: the three terms in the bracket, each carrying the errors above, then the relative error of invstd.
    inner = np.abs(dy) + per_ch(np.abs(dy).mean(axis=axes)) + xhat_mag * per_ch(mag_dgamma / n)
    mag_dx = per_ch(np.abs(g) * invstd * (1 + kappa)) * inner
    assert_close(dx, want_dx, n=n + 6, mag=mag_dx, dtype=dtype, what="dx", ctx=ctx)


# --------------------------------------------------------------------------------------------------------
# Loss and optimizer
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("seed", "b", "c"), [(700, 1, 2), (701, 3, 5), (702, 4, 10), (703, 2, 1), (704, 4, 37)]
)
def test_softmax_ce(seed: int, b: int, c: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    logits = rand(rng, (b, c), dtype, 3.0)
    labels = rng.integers(0, c, b).astype(np.int64)
    ctx = f"seed={seed} dtype={np.dtype(dtype)} logits={logits.shape} labels={labels.tolist()}"
    loss, dz = ref.softmax_ce(logits, labels)
    assert isinstance(loss, float), ctx

    z = f64(logits)
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))  # log sum_c exp(z_c), shifted for range
    rows = np.arange(b)
    zy = z[rows, labels]
    want_loss = float(np.mean(lse[:, 0] - zy))
    onehot = np.zeros((b, c))
    onehot[rows, labels] = 1.0
    p = np.exp(z - lse)
    want_dz = (p - onehot) / b
    # The sum of c exponentials is accurate to n*u relative; exp(z - m) adds u*|z - m| relative; the mean
    # over b rows adds b more roundings, relative to |lse| + |z_y|.
    spread = np.abs(z - m).max(axis=1)
    mag_loss = np.mean(np.abs(lse[:, 0]) + np.abs(zy) + spread)
    assert_close(
        np.asarray(loss, dtype=dtype),
        np.asarray(want_loss),
        n=c + b,
        mag=mag_loss,
        dtype=dtype,
        what="loss",
        ctx=ctx,
    )
    # p = exp(z - lse): relative error from lse (c + spread roundings) and from z - lse (u*|z - lse|).
    mag_dz = (p * (1.0 + spread[:, None] + np.abs(z - lse)) + onehot) / b
    assert_close(dz, want_dz, n=c + 2, mag=mag_dz, dtype=dtype, what="dlogits", ctx=ctx)


# (seed, lr, momentum, weight_decay, dampening, nesterov)
SGD_CASES = [
    (800, 0.1, 0.0, 0.0, 0.0, False),
    (801, 0.05, 0.0, 1e-2, 0.0, False),
    (802, 0.1, 0.9, 0.0, 0.0, False),
    (803, 0.01, 0.9, 5e-4, 0.0, False),
    (804, 0.1, 0.5, 1e-2, 0.3, False),
    (805, 0.05, 0.9, 1e-3, 0.0, True),
]
SGD_STEPS = 4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("seed", "lr", "momentum", "wd", "damp", "nesterov"), SGD_CASES)
def test_sgd_step(
    seed: int, lr: float, momentum: float, wd: float, damp: float, nesterov: bool, dtype: Any
) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.choice(CHANNELS)), int(rng.integers(1, 6)), 3, 3)
    w = rand(rng, shape, dtype)
    ctx0 = f"seed={seed} dtype={np.dtype(dtype)} w={shape} lr={lr} mu={momentum} wd={wd} damp={damp}"
    ctx0 += f" nesterov={nesterov}"
    buf: np.ndarray | None = None
    # The update equations in float64, and the same recursion on absolute values (every difference turned
    # into a sum) as the magnitude the rounding errors are relative to.
    w_ref, a_w = f64(w), np.abs(f64(w))
    b_ref = a_b = np.zeros(shape)
    for step in range(SGD_STEPS):
        ctx = f"{ctx0} step={step}"
        grad = rand(rng, shape, dtype)
        w_in, buf_in = w, buf
        w_copy, buf_copy = w.copy(), None if buf is None else buf.copy()
        w, buf = ref.sgd_step(
            w_in, grad, buf_in, lr, momentum=momentum, weight_decay=wd, dampening=damp, nesterov=nesterov
        )
        np.testing.assert_array_equal(w_in, w_copy, err_msg=f"w was modified ({ctx})")
        if buf_in is not None and buf_copy is not None:
            np.testing.assert_array_equal(buf_in, buf_copy, err_msg=f"momentum_buf was modified ({ctx})")

        g = f64(grad) + wd * w_ref
        a_g = np.abs(f64(grad)) + wd * a_w
        if momentum != 0.0:
            if step == 0:
                b_ref, a_b = g, a_g  # the first step initializes the buffer with the gradient
            else:
                b_ref = momentum * b_ref + (1 - damp) * g
                a_b = momentum * a_b + abs(1 - damp) * a_g
            d, a_d = (g + momentum * b_ref, a_g + momentum * a_b) if nesterov else (b_ref, a_b)
        else:
            d, a_d = g, a_g
        w_ref = w_ref - lr * d
        a_w = a_w + lr * a_d
        # At most 9 roundings per step (2 weight decay, 3 buffer, 2 Nesterov, 2 update); errors carried
        # over from earlier steps are bounded by the same magnitudes, so n grows with the step count.
        n = 9 * (step + 1)
        assert_close(w, w_ref, n=n, mag=a_w, dtype=dtype, what="w", ctx=ctx)
        if momentum == 0.0:
            assert buf is None, ctx
        else:
            assert buf is not None, ctx
            assert_close(buf, b_ref, n=n, mag=a_b, dtype=dtype, what="momentum_buf", ctx=ctx)


def test_sgd_step_does_not_modify_inputs() -> None:
    seed = 810
    rng = np.random.default_rng(seed)
    w, grad, buf = (rand(rng, (3, 4), np.float32) for _ in range(3))
    saved = [a.copy() for a in (w, grad, buf)]
    w_new, buf_new = ref.sgd_step(w, grad, buf, 0.1, momentum=0.9, weight_decay=1e-2)
    for a, b in zip((w, grad, buf), saved, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"seed={seed}: an input was modified")
    assert buf_new is not None
    assert not np.shares_memory(w_new, w) and not np.shares_memory(buf_new, buf), f"seed={seed}"


# --------------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------------

_F = np.float32
_x4 = np.zeros((2, 3, 6, 6), _F)
_w4 = np.zeros((4, 3, 3, 3), _F)
_dy4 = np.zeros((2, 4, 4, 4), _F)
_p4 = np.zeros((2, 3, 3, 3), _F)  # 2x2/2 max or average pooling of _x4
_idx = np.zeros((2, 3, 3, 3), np.int64)
_c3 = np.ones(3, _F)

# (argument name the message must start with, call)
BAD_CALLS: list[tuple[str, Callable[[], object]]] = [
    ("x", lambda: ref.conv2d_fp(_x4[0], _w4)),
    ("x", lambda: ref.conv2d_fp(_x4.astype(np.int32), _w4)),
    ("w", lambda: ref.conv2d_fp(_x4, _w4.astype(np.float16))),
    ("w", lambda: ref.conv2d_fp(_x4, _w4.astype(np.float64))),
    ("w", lambda: ref.conv2d_fp(_x4, np.zeros((4, 2, 3, 3), _F))),
    ("w", lambda: ref.conv2d_fp(_x4, np.zeros((4, 3, 9, 9), _F), padding=1)),
    ("w", lambda: ref.conv2d_fp(_x4, np.zeros((4, 3, 0, 3), _F))),
    ("bias", lambda: ref.conv2d_fp(_x4, _w4, np.zeros(3, _F))),
    ("bias", lambda: ref.conv2d_fp(_x4, _w4, np.zeros(4, np.float64))),
    ("stride", lambda: ref.conv2d_fp(_x4, _w4, stride=0)),
    ("stride", lambda: ref.conv2d_fp(_x4, _w4, stride=-2)),
    ("stride", lambda: ref.conv2d_fp(_x4, _w4, stride=1.5)),  # type: ignore[arg-type]
    ("padding", lambda: ref.conv2d_fp(_x4, _w4, padding=-1)),
    ("dy", lambda: ref.conv2d_bp(np.zeros((2, 5, 4, 4), _F), _w4, _x4.shape)),
    ("dy", lambda: ref.conv2d_bp(_dy4, _w4, _x4.shape, stride=2)),
    ("x_shape", lambda: ref.conv2d_bp(_dy4, _w4, (2, 3, 6))),
    ("x_shape", lambda: ref.conv2d_bp(_dy4, _w4, (2, 3, 6, 0))),
    ("w", lambda: ref.conv2d_bp(_dy4, np.zeros((4, 5, 3, 3), _F), _x4.shape)),
    ("padding", lambda: ref.conv2d_bp(_dy4, _w4, _x4.shape, padding=-1)),
    ("w_shape", lambda: ref.conv2d_wu(_x4, _dy4, (4, 2, 3, 3))),
    ("dy", lambda: ref.conv2d_wu(_x4, _dy4, (4, 3, 3, 3), stride=3)),
    ("stride", lambda: ref.conv2d_wu(_x4, _dy4, (4, 3, 3, 3), stride=0)),
    ("dy", lambda: ref.conv2d_wu(_x4, _dy4.astype(np.float64), (4, 3, 3, 3))),
    ("dy", lambda: ref.conv2d_bias_grad(_dy4[0])),
    ("w", lambda: ref.linear_fp(np.zeros((2, 5), _F), np.zeros((3, 4), _F))),
    ("bias", lambda: ref.linear_fp(np.zeros((2, 5), _F), np.zeros((3, 5), _F), np.zeros(5, _F))),
    ("x", lambda: ref.linear_fp(np.zeros((2, 5, 1), _F), np.zeros((3, 5), _F))),
    ("w", lambda: ref.linear_bp(np.zeros((2, 3), _F), np.zeros((4, 5), _F))),
    ("dy", lambda: ref.linear_wu(np.zeros((2, 5), _F), np.zeros((3, 4), _F))),
    ("y", lambda: ref.relu_bp(_x4, _x4[:1])),
    ("dy", lambda: ref.relu_bp(_x4.astype(np.int64), _x4)),
    ("x", lambda: ref.relu_fp(_x4.astype(np.float16))),
    ("k", lambda: ref.maxpool_fp(_x4, 0, 1)),
    ("k", lambda: ref.maxpool_fp(_x4, 7, 1)),
    ("s", lambda: ref.maxpool_fp(_x4, 2, 0)),
    ("x", lambda: ref.maxpool_fp(_x4[0], 2, 2)),
    ("idx", lambda: ref.maxpool_bp(_p4, _idx.astype(np.float32), _x4.shape, 2, 2)),
    ("idx", lambda: ref.maxpool_bp(_p4, _idx[:, :, :2], _x4.shape, 2, 2)),
    ("idx", lambda: ref.maxpool_bp(_p4, _idx + 35, _x4.shape, 2, 2)),  # outside the window
    ("idx", lambda: ref.maxpool_bp(_p4, _idx - 1, _x4.shape, 2, 2)),
    ("dy", lambda: ref.maxpool_bp(_p4, _idx, _x4.shape, 2, 1)),
    ("s", lambda: ref.avgpool_fp(_x4, 2, -1)),
    ("dy", lambda: ref.avgpool_bp(_p4, _x4.shape, 3, 2)),
    ("x_shape", lambda: ref.avgpool_bp(_p4, (2, 3, 6), 2, 2)),
    ("x", lambda: ref.global_avgpool_fp(_x4.astype(np.int16))),
    ("dy", lambda: ref.global_avgpool_bp(_p4, _x4.shape)),
    ("x", lambda: ref.batchnorm_fp(_x4[0], _c3, _c3, _c3, _c3)),
    ("gamma", lambda: ref.batchnorm_fp(_x4, np.ones(4, _F), _c3, _c3, _c3)),
    ("beta", lambda: ref.batchnorm_fp(_x4, _c3, np.ones((3, 1), _F), _c3, _c3)),
    ("running_var", lambda: ref.batchnorm_fp(_x4, _c3, _c3, _c3, np.ones(3))),
    ("momentum", lambda: ref.batchnorm_fp(_x4, _c3, _c3, _c3, _c3, momentum=1.5)),
    ("eps", lambda: ref.batchnorm_fp(_x4, _c3, _c3, _c3, _c3, eps=0.0)),
    ("x", lambda: ref.batchnorm_fp(np.zeros((1, 3, 1, 1), _F), _c3, _c3, _c3, _c3)),
    ("dy", lambda: ref.batchnorm_bp(_x4[:1], _x4, _c3)),
    ("gamma", lambda: ref.batchnorm_bp(_x4, _x4, np.ones(2, _F))),
    ("logits", lambda: ref.softmax_ce(np.zeros(3, _F), np.zeros(3, np.int64))),
    ("labels", lambda: ref.softmax_ce(np.zeros((2, 3), _F), np.zeros(2, np.float32))),
    ("labels", lambda: ref.softmax_ce(np.zeros((2, 3), _F), np.array([0, 3]))),
    ("labels", lambda: ref.softmax_ce(np.zeros((2, 3), _F), np.zeros(3, np.int64))),
    ("grad", lambda: ref.sgd_step(_c3, np.ones(4, _F), None, 0.1)),
    ("grad", lambda: ref.sgd_step(_c3, np.ones(3, np.int32), None, 0.1)),
    ("momentum_buf", lambda: ref.sgd_step(_c3, _c3, np.ones(4, _F), 0.1, momentum=0.9)),
    ("lr", lambda: ref.sgd_step(_c3, _c3, None, -0.1)),
    ("momentum", lambda: ref.sgd_step(_c3, _c3, None, 0.1, momentum=-0.5)),
    ("weight_decay", lambda: ref.sgd_step(_c3, _c3, None, 0.1, weight_decay=float("nan"))),
    ("nesterov", lambda: ref.sgd_step(_c3, _c3, None, 0.1, nesterov=True)),
    ("nesterov", lambda: ref.sgd_step(_c3, _c3, None, 0.1, momentum=0.9, dampening=0.1, nesterov=True)),
]


@pytest.mark.parametrize(("arg", "call"), BAD_CALLS, ids=[f"{i}-{a}" for i, (a, _) in enumerate(BAD_CALLS)])
def test_bad_arguments_raise(arg: str, call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=f"^{arg}:"):
        call()


def test_gradients_work_under_no_grad() -> None:
    """The backward functions enable autograd themselves, even when the caller disabled it."""
    seed = 900
    rng = np.random.default_rng(seed)
    x, w = rand(rng, (1, 3, 5, 5), np.float64), rand(rng, (2, 3, 3, 3), np.float64)
    dy = rand(rng, (1, 2, 3, 3), np.float64)
    with torch.no_grad():
        dx = ref.conv2d_bp(dy, w, x.shape)
        dw = ref.conv2d_wu(x, dy, w.shape)
    assert np.any(dx != 0.0) and np.any(dw != 0.0), f"seed={seed}"


def test_non_array_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"^x:"):
        ref.conv2d_fp([[[[1.0]]]], _w4)  # type: ignore[arg-type]
