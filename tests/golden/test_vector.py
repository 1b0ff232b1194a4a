"""The vector unit's bit-exact model (eftrain.golden.vector) against its contract and torch.

1. Contract: hand-written scalar float32 code following the module documentation's order gives
   the same bits (reduction banks and tree, pooling scan and scatter orders, BN and SGD chains),
   including the IEEE corner cases the documentation names (ties, NaN, signed zeros).
2. Semantics: agreement with torch (float64) within a first-order rounding-error bound derived
   from the documented chain of operations (``u = 2**-24`` per rounded operation, the sums'
   bound from :func:`eftrain.golden.tolerance.gamma`), times 2 for second-order terms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eftrain.config import preset
from eftrain.golden import reference as R
from eftrain.golden import vector as V
from eftrain.golden.tolerance import U, bits_equal, gamma

F32 = np.float32


def seq_tree(vals: list) -> np.float32:
    level = list(vals)
    while len(level) > 1:
        nxt = [F32(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def scalar_reduce(stream: list, lanes: int) -> np.float32:
    p = [F32(-0.0)] * lanes
    for t, v in enumerate(stream):
        p[t % lanes] = F32(p[t % lanes] + F32(v))
    return seq_tree(p)


def r_len(n: int, lanes: int) -> int:
    return -(-n // lanes) + (math.ceil(math.log2(lanes)) if lanes > 1 else 0)


# ------------------------------------------------------------------------------- 1. contract
@pytest.mark.parametrize("cfg", ["ci", "zcu102"])
def test_reduce_channels_is_banked_stream_then_tree(cfg):
    lanes = preset(cfg).acc_interleave
    rng = np.random.default_rng(3)
    # magnitudes spread over many binades make the order matter
    v = (rng.standard_normal((3, 2, 3, 5)) * 10.0 ** rng.integers(-6, 7, (3, 2, 3, 5))).astype(F32)
    got = V.reduce_channels(v, cfg)
    for c in range(2):
        stream = [v[b, c, h, w] for b in range(3) for h in range(3) for w in range(5)]
        assert bits_equal(got[c:c + 1], np.array([scalar_reduce(stream, lanes)]))
    # and it differs from a plain sequential sum somewhere (the order is observable)
    seq = [F32(0)] * 2
    for c in range(2):
        acc = F32(-0.0)
        for val in np.ascontiguousarray(v[:, c]).ravel():
            acc = F32(acc + val)
        seq[c] = acc
    assert not bits_equal(got, np.array(seq, F32)) or lanes == 1


def test_relu_and_mask_signed_zeros_and_nan():
    v = np.array([-0.0, 0.0, -1.0, 2.0, np.nan, -np.inf, np.inf, 1e-45], F32)
    y = V.relu(v)
    assert y.view(np.uint32)[0] == 0 and y.view(np.uint32)[1] == 0 and y[2] == 0 and y[3] == 2
    assert np.isnan(y[4]) and y[5] == 0 and y[6] == np.inf and y[7] == F32(1e-45)
    dy = np.array([5, 6, -0.0, 7, 8, 9, 10, 11], F32)
    dx = V.relu_bp(dy, y)
    assert dx.view(np.uint32)[0] == 0 and dx[3] == 7 and dx[4] == 0 and dx[6] == 10 and dx[7] == 11


def test_maxpool_first_max_last_nan_and_zero_signs():
    x = np.zeros((1, 1, 2, 4), F32)
    x[0, 0] = [[1, 3, -0.0, np.nan], [3, 2, 0.0, np.nan]]
    y, idx = V.maxpool_fp(x, 2, 2)
    assert y[0, 0, 0, 0] == 3 and idx[0, 0, 0, 0] == 1          # first of two equal maxima
    assert np.isnan(y[0, 0, 0, 1]) and idx[0, 0, 0, 1] == 3      # the last NaN wins
    x2 = np.array([[[[-0.0, 0.0]]]], F32)
    y2, i2 = V.maxpool_fp(x2, 1, 1)
    y3, i3 = V.maxpool_fp(np.array([[[[-0.0, 0.0], [0.0, -0.0]]]], F32), 2, 1)
    assert y3.view(np.uint32)[0, 0, 0, 0] == 0x80000000 and i3[0, 0, 0, 0] == 0  # +0 is not > -0
    assert bits_equal(y2, x2) and not i2.any()


def test_pool_bp_overlap_order_by_hand():
    rng = np.random.default_rng(5)
    k, s = 3, 1
    x = rng.standard_normal((1, 1, 5, 5)).astype(F32)
    y, idx = V.maxpool_fp(x, k, s)
    dy = (rng.standard_normal(y.shape) * 10.0 ** rng.integers(-5, 6, y.shape)).astype(F32)
    got = V.maxpool_bp(dy, idx, x.shape, k, s)
    got_avg = V.avgpool_bp(dy, x.shape, k, s)
    exp = np.zeros_like(x)
    exp_avg = np.zeros_like(x)
    for h in range(5):
        for w in range(5):
            acc, acc_a = F32(0.0), F32(0.0)
            for oh in range(y.shape[2]):
                for ow in range(y.shape[3]):
                    if oh * s <= h < oh * s + k and ow * s <= w < ow * s + k:
                        acc_a = F32(acc_a + F32(dy[0, 0, oh, ow] / F32(k * k)))
                        if idx[0, 0, oh, ow] == (h - oh * s) * k + (w - ow * s):
                            acc = F32(acc + dy[0, 0, oh, ow])
            exp[0, 0, h, w], exp_avg[0, 0, h, w] = acc, acc_a
    assert bits_equal(got, exp) and bits_equal(got_avg, exp_avg)


def test_avgpool_fp_row_major_then_divide():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((2, 3, 7, 7)) * 10.0 ** rng.integers(-4, 5, (2, 3, 7, 7))).astype(F32)
    got = V.avgpool_fp(x, 3, 2)
    b, c, oh, ow = 1, 2, 2, 1
    acc = F32(-0.0)
    for kh in range(3):
        for kw in range(3):
            acc = F32(acc + x[b, c, oh * 2 + kh, ow * 2 + kw])
    assert bits_equal(got[b, c, oh, ow], F32(acc / F32(9)))


def test_bn_fp_bp_scalar_chain():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 3, 3)).astype(F32) * F32(3) + F32(1)
    g = rng.standard_normal(3).astype(F32)
    bt = rng.standard_normal(3).astype(F32)
    rm, rv = rng.standard_normal(3).astype(F32), rng.random(3).astype(F32) + F32(0.5)
    out = V.bn_fp(x, g, bt, rm, rv, 0.1, 1e-5, True, "ci")
    dy = rng.standard_normal(x.shape).astype(F32)
    dx, dg, db = V.bn_bp(dy, x, g, bt, out.mean, out.invstd, True, "ci")
    c = 1
    vals = [x[b, c, h, w] for b in range(2) for h in range(3) for w in range(3)]
    n = len(vals)
    nf = F32(n)
    mean = F32(scalar_reduce(vals, 4) / nf)
    s2 = scalar_reduce([F32(F32(v - mean) * F32(v - mean)) for v in vals], 4)
    invstd = F32(F32(1) / np.sqrt(F32(F32(s2 / nf) + F32(1e-5))))
    assert bits_equal(out.mean[c], mean) and bits_equal(out.invstd[c], invstd)
    mom, omm = F32(0.1), F32(F32(1) - F32(0.1))
    assert bits_equal(out.running_mean[c], F32(F32(mom * mean) + F32(omm * rm[c])))
    assert bits_equal(out.running_var[c], F32(F32(mom * F32(s2 / F32(n - 1))) + F32(omm * rv[c])))
    z = F32(F32(F32(F32(x[1, c, 2, 0] - mean) * invstd) * g[c]) + bt[c])
    assert bits_equal(out.y[1, c, 2, 0], z if z > 0 else F32(0))
    gs, xh = [], []
    for b in range(2):
        for h in range(3):
            for w in range(3):
                xhat = F32(F32(x[b, c, h, w] - mean) * invstd)
                zz = F32(F32(xhat * g[c]) + bt[c])
                gs.append(dy[b, c, h, w] if zz > 0 else F32(0))
                xh.append(xhat)
    dbeta = scalar_reduce(gs, 4)
    dgamma = scalar_reduce([F32(a * b) for a, b in zip(gs, xh, strict=True)], 4)
    assert bits_equal(db[c], dbeta) and bits_equal(dg[c], dgamma)
    scale = F32(F32(g[c] * invstd) / nf)
    i = 13  # (b, h, w) = (1, 1, 1)
    inner = F32(F32(F32(nf * gs[i]) - dbeta) - F32(xh[i] * dgamma))
    assert bits_equal(dx[1, c, 1, 1], F32(scale * inner))


def test_sgd_chain_and_zero_momentum_start():
    w = np.array([1.5, -2.0, 0.0], F32)
    g = np.array([0.25, 1e-3, -0.0], F32)
    v = np.array([0.5, 0.0, 0.0], F32)
    w2, v2 = V.sgd(w, g, v, 0.1, 0.9, 1e-4)
    for i in range(3):
        d = F32(g[i] + F32(F32(1e-4) * w[i]))
        vv = F32(F32(F32(0.9) * v[i]) + d)
        assert bits_equal(v2[i], vv) and bits_equal(w2[i], F32(w[i] - F32(F32(0.1) * vv)))
    with pytest.raises(ValueError, match="lr"):
        V.sgd(w, g, v, -0.1)


def test_bad_arguments_name_the_argument():
    x = np.zeros((1, 2, 4, 4), F32)
    with pytest.raises(ValueError, match="float32"):
        V.maxpool_fp(x.astype(np.float64), 2, 2)
    with pytest.raises(ValueError, match="window"):
        V.avgpool_fp(x, 5, 1)
    with pytest.raises(ValueError, match="more than one value"):
        V.bn_fp(np.zeros((1, 2, 1, 1), F32), *(np.zeros(2, F32),) * 4, 0.1, 1e-5)
    with pytest.raises(ValueError, match="gamma"):
        V.bn_fp(x, np.zeros(3, F32), *(np.zeros(2, F32),) * 3, 0.1, 1e-5)
    with pytest.raises(ValueError, match="idx"):
        V.maxpool_bp(np.zeros((1, 2, 2, 2), F32), np.full((1, 2, 2, 2), 4), x.shape, 2, 2)


# ------------------------------------------------------------------------------- 2. torch
def test_pools_against_torch():
    rng = np.random.default_rng(11)
    for k, s, hw in ((2, 2, 8), (3, 2, 9), (3, 1, 6), (2, 3, 8)):
        x = rng.standard_normal((2, 5, hw, hw)).astype(F32)
        y, idx = V.maxpool_fp(x, k, s)
        yr, ir = R.maxpool_fp(x.astype(np.float64), k, s)
        assert np.array_equal(y, yr.astype(F32))                      # max is exact
        w_in = x.shape[3]
        row, col = np.divmod(ir, w_in)
        oh = np.arange(y.shape[2])[:, None] * s
        ow = np.arange(y.shape[3])[None, :] * s
        assert np.array_equal(idx, (row - oh) * k + (col - ow))          # same element chosen
        dy = rng.standard_normal(y.shape).astype(F32)
        dx = V.maxpool_bp(dy, idx, x.shape, k, s)
        dxr = R.maxpool_bp(dy.astype(np.float64), ir, x.shape, k, s)
        adds = (-(-k // s)) ** 2                                           # overlapping windows
        assert np.all(np.abs(dx - dxr) <= 2 * gamma(adds) * R.maxpool_bp(np.abs(dy).astype(np.float64), ir,
                                                                           x.shape, k, s))
        ya = V.avgpool_fp(x, k, s)
        bound = 2 * gamma(k * k + 1) * R.avgpool_fp(np.abs(x).astype(np.float64), k, s)
        assert np.all(np.abs(ya - R.avgpool_fp(x.astype(np.float64), k, s)) <= bound)
        dxa = V.avgpool_bp(dy, x.shape, k, s)
        bound = 2 * gamma(adds + 1) * R.avgpool_bp(np.abs(dy).astype(np.float64), x.shape, k, s)
        assert np.all(np.abs(dxa - R.avgpool_bp(dy.astype(np.float64), x.shape, k, s)) <= bound)
    x = rng.standard_normal((3, 6, 5, 7)).astype(F32)
    lanes = preset("ci").acc_interleave
    bound = 2 * gamma(r_len(35, lanes) + 1) * np.abs(x).astype(np.float64).mean(axis=(2, 3), keepdims=True)
    assert np.all(np.abs(V.global_avgpool_fp(x, "ci") - R.global_avgpool_fp(x.astype(np.float64))) <= bound)
    dy = rng.standard_normal((3, 6, 1, 1)).astype(F32)
    err = np.abs(V.global_avgpool_bp(dy, x.shape) - R.global_avgpool_bp(dy.astype(np.float64), x.shape))
    assert np.all(err <= U * np.abs(dy).astype(np.float64) / 35 + 1e-45)


def bn_bounds(x64, gam, bet, lanes):
    """First-order absolute error bounds of BN FP (per element of y) and its statistics."""
    axes = (0, 2, 3)
    n = x64.size // x64.shape[1]
    r = r_len(n, lanes)
    mean = x64.mean(axis=axes)
    e_mean = gamma(r) * np.abs(x64).sum(axis=axes) / n + U * np.abs(mean)
    d = x64 - mean[None, :, None, None]
    e_d = e_mean[None, :, None, None] + U * np.abs(d)
    d2 = d * d
    s2 = d2.sum(axis=axes)
    e_s2 = (2 * np.abs(d) * e_d + U * d2).sum(axis=axes) + gamma(r) * s2
    var = s2 / n
    ve = var + 1e-5
    e_ve = e_s2 / n + U * var + U * ve
    invstd = 1 / np.sqrt(ve)
    rel_inv = e_ve / (2 * ve) + 2 * U
    xhat = d * invstd[None, :, None, None]
    e_xhat = e_d * invstd[None, :, None, None] + np.abs(xhat) * (rel_inv[None, :, None, None] + U)
    z1 = xhat * gam[None, :, None, None]
    e_z = (np.abs(gam)[None, :, None, None] * e_xhat + U * np.abs(z1)
           + U * np.abs(z1 + bet[None, :, None, None]))
    return 2 * e_z, 2 * e_mean, 2 * rel_inv, xhat, 2 * e_xhat, invstd


@pytest.mark.parametrize("relu_out", [False, True])
def test_bn_against_torch(relu_out):
    rng = np.random.default_rng(13)
    lanes = preset("ci").acc_interleave
    x = (rng.standard_normal((4, 5, 6, 6)) * 2 + 0.5).astype(F32)
    gam = rng.standard_normal(5).astype(F32)
    bet = rng.standard_normal(5).astype(F32)
    rm, rv = rng.standard_normal(5).astype(F32), (rng.random(5) + 0.5).astype(F32)
    out = V.bn_fp(x, gam, bet, rm, rv, 0.1, 1e-5, relu_out, "ci")
    x64, g64, b64 = (a.astype(np.float64) for a in (x, gam, bet))
    rm64, rv64 = rm.astype(np.float64), rv.astype(np.float64)
    y64, rm64, rv64, _ = R.batchnorm_fp(x64, g64, b64, rm64, rv64, 0.1, 1e-5)
    z64 = y64
    if relu_out:
        y64 = R.relu_fp(y64)
    e_y, e_mean, rel_inv, xhat, e_xhat, invstd = bn_bounds(x64, g64, b64, lanes)
    assert np.all(np.abs(out.y - y64) <= e_y + 1e-45)
    assert np.all(np.abs(out.running_mean - rm64) <= 0.1 * e_mean + 4 * U * (np.abs(rm64) + np.abs(rm)))
    unb = x64.var(axis=(0, 2, 3), ddof=1)
    bound = 0.1 * unb * (rel_inv * 2 + 4 * U) + 4 * U * np.abs(rv64) + 4 * U * rv
    assert np.all(np.abs(out.running_var - rv64) <= bound)
    # BP: torch differentiates through the batch statistics it recomputes in float64
    dy = rng.standard_normal(x.shape).astype(F32)
    dx, dg, db = V.bn_bp(dy, x, gam, bet, out.mean, out.invstd, relu_out, "ci")
    g64 = dy.astype(np.float64)
    if relu_out:
        g64 = np.where(y64 > 0, g64, 0.0)
        # elements whose pre-activation is within its error bound of 0 may be masked differently
        near = np.abs(z64) <= e_y
    else:
        near = np.zeros(x.shape, bool)
    dxr, dgr, dbr = R.batchnorm_bp(g64, x64, gam.astype(np.float64), 1e-5)
    n = x.size // 5
    r = r_len(n, lanes)
    ok_ch = ~near.any(axis=(0, 2, 3))
    e_db = 2 * gamma(r) * np.abs(g64).sum(axis=(0, 2, 3))
    e_dg = 2 * ((np.abs(g64) * e_xhat).sum(axis=(0, 2, 3))
                + gamma(r + 1) * np.abs(g64 * xhat).sum(axis=(0, 2, 3)))
    assert np.all((np.abs(db - dbr) <= e_db + 1e-45) | ~ok_ch)
    assert np.all((np.abs(dg - dgr) <= e_dg + 1e-45) | ~ok_ch)
    scale = np.abs(gam.astype(np.float64) * invstd / n)[None, :, None, None]
    inner = np.abs(n * g64 - dbr[None, :, None, None]) + np.abs(xhat * dgr[None, :, None, None])
    e_inner = (e_db[None, :, None, None] + U * n * np.abs(g64) + 2 * U * inner
               + e_xhat * np.abs(dgr)[None, :, None, None] + np.abs(xhat) * e_dg[None, :, None, None])
    e_dx = 2 * (scale * e_inner + scale * inner * (rel_inv[None, :, None, None] + 4 * U))
    assert np.all((np.abs(dx - dxr) <= e_dx + 1e-45) | ~ok_ch[None, :, None, None])
    assert ok_ch.sum() >= 3  # the check above really ran on most channels


def test_sgd_tracks_torch_over_steps():
    rng = np.random.default_rng(17)
    w = rng.standard_normal(200).astype(F32)
    v = np.zeros_like(w)
    wt, vt = w.astype(np.float64), None
    for _ in range(20):
        g = rng.standard_normal(200).astype(F32)
        w, v = V.sgd(w, g, v, 0.05, 0.9, 5e-4)
        wt, vt = R.sgd_step(wt, g.astype(np.float64), vt, 0.05, 0.9, 5e-4)
    # 6 rounded ops per step on bounded values: 20 steps stay well inside 200 u * max|w|
    assert np.max(np.abs(w - wt)) <= 200 * U * np.max(np.abs(wt))


def test_bias_grad_against_torch():
    rng = np.random.default_rng(19)
    dy = rng.standard_normal((3, 6, 4, 5)).astype(F32)
    got = V.bias_grad(dy, "zcu102")
    ref = R.conv2d_bias_grad(dy.astype(np.float64))
    lanes = preset("zcu102").acc_interleave
    bound = 2 * gamma(r_len(60, lanes)) * np.abs(dy).astype(np.float64).sum(axis=(0, 2, 3))
    assert np.all(np.abs(got - ref) <= bound)
    fc = rng.standard_normal((5, 7)).astype(F32)
    assert bits_equal(V.bias_grad(fc, "ci"), V.reduce_channels(fc[:, :, None, None], "ci"))
