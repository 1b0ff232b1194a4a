"""The bit-exact functional model (eftrain.golden.engine) against its contract and torch.

Three kinds of checks:
1. Contract: a hand-written, element-by-element float32 implementation of the order
   written in the engine's module documentation (scalar numpy float32 arithmetic, one
   rounding per operation) must give the same bits, including IEEE specials.
2. Order sensitivity: cases where another summation order gives other bits, with the
   expected bits computed by hand-written sequential code here.
3. Semantics: agreement with torch autograd (float64) within a rigorous error bound.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eftrain.config import preset
from eftrain.golden import engine as E
from eftrain.golden import tolerance as T
from eftrain.golden.tolerance import bits_equal

F32 = np.float32


# ----------------------------------------------------------------------------- helpers
def first_diff(a: np.ndarray, b: np.ndarray) -> str:
    a = np.asarray(a, F32).ravel()
    b = np.asarray(b, F32).ravel()
    for i in range(a.size):
        if not bits_equal(a[i : i + 1], b[i : i + 1]):
            return f"index {i}: got {a[i]!r} ({a[i:i+1].view(np.uint32)[0]:#010x}) " \
                   f"expected {b[i]!r} ({b[i:i+1].view(np.uint32)[0]:#010x})"
    return "none"


def seq_tree(vals: list) -> np.float32:
    """Adder tree written out by hand: adjacent pairs per level, odd last passes through."""
    level = list(vals)
    while len(level) > 1:
        nxt = [F32(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def ref_conv_fp(x, w, bias, s, p, tn):
    """Element-by-element FP in the contract's order (scalar float32)."""
    b_, n, h, wd = x.shape
    m, _, k, _ = w.shape
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    tiles = -(-n // tn)
    y = np.empty((b_, m, oh, ow), F32)

    def xv(bb, c, r, col):
        if c >= n:
            return F32(0.0)
        r -= p
        col -= p
        if 0 <= r < h and 0 <= col < wd:
            return x[bb, c, r, col]
        return F32(0.0)

    def wv(mm, c, kh, kw):
        return w[mm, c, kh, kw] if c < n else F32(0.0)

    with np.errstate(all="ignore"):
        for bb in range(b_):
            for mm in range(m):
                for r in range(oh):
                    for c in range(ow):
                        acc = bias[mm] if bias is not None else F32(-0.0)
                        for nt in range(tiles):
                            for kh in range(k):
                                for kw in range(k):
                                    prods = [
                                        F32(wv(mm, nt * tn + j, kh, kw)
                                            * xv(bb, nt * tn + j, r * s + kh, c * s + kw))
                                        for j in range(tn)
                                    ]
                                    acc = F32(acc + seq_tree(prods))
                        y[bb, mm, r, c] = acc
    return y


def ref_conv_bp(dy, w, x_shape, s, p, tn):
    """BP in the contract's order: FP engine on the zero-inserted, padded map, flipped/swapped weights."""
    b_, m, oh, ow = dy.shape
    _, n, h, wd = x_shape
    k = w.shape[2]
    dz = np.zeros((b_, m, h + k - 1, wd + k - 1), F32)
    o = k - 1 - p
    for r in range(oh):
        for c in range(ow):
            dz[:, :, o + r * s, o + c * s] = dy[:, :, r, c]
    wt = np.empty((n, m, k, k), F32)
    for mm in range(m):
        for nn in range(n):
            for kh in range(k):
                for kw in range(k):
                    wt[nn, mm, kh, kw] = w[mm, nn, k - 1 - kh, k - 1 - kw]
    return ref_conv_fp(dz, wt, None, 1, 0, tn)


def ref_conv_wu(x, dy, w_shape, s, p, lanes):
    """WU in the contract's order: L interleaved partial sums over the batch-wide pixel stream."""
    b_, n, h, wd = x.shape
    m, _, k, _ = w_shape
    _, _, oh, ow = dy.shape
    dw = np.empty(w_shape, F32)
    with np.errstate(all="ignore"):
        for mm in range(m):
            for nn in range(n):
                for kh in range(k):
                    for kw in range(k):
                        part = [F32(-0.0)] * lanes
                        t = 0
                        for bb in range(b_):
                            for r in range(oh):
                                for c in range(ow):
                                    rr, cc = r * s + kh - p, c * s + kw - p
                                    xv = x[bb, nn, rr, cc] if 0 <= rr < h and 0 <= cc < wd else F32(0.0)
                                    part[t % lanes] = F32(part[t % lanes] + F32(dy[bb, mm, r, c] * xv))
                                    t += 1
                        dw[mm, nn, kh, kw] = seq_tree(part)
    return dw


def random_case(seed: int, small: bool = True):
    """A random legal layer: odd sizes, channels not multiples of the lanes, K 1..7, S 1..4, P 0..K-1."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 8 if not small else 6))
    s = int(rng.integers(1, 5))
    p = int(rng.integers(0, k))
    b = int(rng.integers(1, 5 if not small else 3))
    n = int(rng.integers(1, 10 if not small else 7))
    m = int(rng.integers(1, 10 if not small else 6))
    h = int(rng.integers(max(1, k - 2 * p), max(1, k - 2 * p) + (12 if not small else 5)))
    w = int(rng.integers(max(1, k - 2 * p), max(1, k - 2 * p) + (12 if not small else 5)))
    bias = bool(rng.integers(0, 2))
    return rng, dict(b=b, n=n, m=m, h=h, w=w, k=k, s=s, p=p, bias=bias)


def make_tensors(rng, c):
    x = rng.standard_normal((c["b"], c["n"], c["h"], c["w"])).astype(F32)
    w = rng.standard_normal((c["m"], c["n"], c["k"], c["k"])).astype(F32)
    bias = rng.standard_normal(c["m"]).astype(F32) if c["bias"] else None
    oh = (c["h"] + 2 * c["p"] - c["k"]) // c["s"] + 1
    ow = (c["w"] + 2 * c["p"] - c["k"]) // c["s"] + 1
    dy = rng.standard_normal((c["b"], c["m"], oh, ow)).astype(F32)
    return x, w, bias, dy


# ---------------------------------------------------------------- 1. the contract itself
@pytest.mark.parametrize("cfg_name", ["ci", "zcu102", "odd"])
@pytest.mark.parametrize("seed", range(6))
def test_engine_matches_handwritten_contract(cfg_name, seed):
    cfg = preset(cfg_name)
    rng, c = random_case(1000 * seed + len(cfg_name))
    x, w, bias, dy = make_tensors(rng, c)
    msg = f"seed={seed} cfg={cfg_name} case={c}"
    y = E.conv_fp(x, w, bias, c["s"], c["p"], cfg)
    y_ref = ref_conv_fp(x, w, bias, c["s"], c["p"], cfg.tn)
    assert bits_equal(y, y_ref), f"FP {msg}: {first_diff(y, y_ref)}"
    dx = E.conv_bp(dy, w, x.shape, c["s"], c["p"], cfg)
    dx_ref = ref_conv_bp(dy, w, x.shape, c["s"], c["p"], cfg.tn)
    assert bits_equal(dx, dx_ref), f"BP {msg}: {first_diff(dx, dx_ref)}"
    dw = E.conv_wu(x, dy, w.shape, c["s"], c["p"], cfg)
    dw_ref = ref_conv_wu(x, dy, w.shape, c["s"], c["p"], cfg.acc_interleave)
    assert bits_equal(dw, dw_ref), f"WU {msg}: {first_diff(dw, dw_ref)}"


def test_fc_is_k1_conv_and_matches_contract():
    rng = np.random.default_rng(7)
    cfg = preset("odd")
    x = rng.standard_normal((3, 11)).astype(F32)
    w = rng.standard_normal((7, 11)).astype(F32)
    b = rng.standard_normal(7).astype(F32)
    dy = rng.standard_normal((3, 7)).astype(F32)
    y = E.fc_fp(x, w, b, cfg)
    assert bits_equal(y, ref_conv_fp(x[:, :, None, None], w[:, :, None, None], b, 1, 0, cfg.tn)[:, :, 0, 0])
    dx = E.fc_bp(dy, w, cfg)
    assert bits_equal(dx, ref_conv_bp(dy[:, :, None, None], w[:, :, None, None], (3, 11, 1, 1), 1, 0, cfg.tn)[
        :, :, 0, 0])
    dw = E.fc_wu(x, dy, cfg)
    assert bits_equal(dw, ref_conv_wu(x[:, :, None, None], dy[:, :, None, None], (7, 11, 1, 1), 1, 0,
                                      cfg.acc_interleave)[:, :, 0, 0])


# ------------------------------------------------------------- 2. the order is the order
def test_tree_shape_for_five_lanes():
    # ((v0+v1)+(v2+v3))+v4 differs from the left-to-right sum for these values.
    v = np.array([2.0**24, 1.0, 1.0, 1.0, 1.0], F32)
    left_to_right = F32(0.0)
    for e in v:
        left_to_right = F32(left_to_right + e)
    by_hand = F32(F32(F32(v[0] + v[1]) + F32(v[2] + v[3])) + v[4])
    assert left_to_right != by_hand  # the order matters for these bits
    assert E.tree_sum(v).view(np.uint32) == np.array(by_hand, F32).view(np.uint32)


def _fp_orders(x, w, tn):
    """One output pixel of a K=2 conv over 2*Tn channels, summed three ways by hand."""
    def tile_sum(nt, kh, kw):
        return seq_tree([F32(w[0, nt * tn + j, kh, kw] * x[0, nt * tn + j, kh, kw]) for j in range(tn)])

    contract = F32(-0.0)  # tiles, then kernel rows, then kernel columns
    for nt in range(2):
        for kh in range(2):
            for kw in range(2):
                contract = F32(contract + tile_sum(nt, kh, kw))
    kernel_major = F32(-0.0)  # the same tree sums with the kernel loop outside the tile loop
    for kh in range(2):
        for kw in range(2):
            for nt in range(2):
                kernel_major = F32(kernel_major + tile_sum(nt, kh, kw))
    flat = F32(-0.0)  # a plain sequential dot product
    for c in range(2 * tn):
        for kh in range(2):
            for kw in range(2):
                flat = F32(flat + F32(w[0, c, kh, kw] * x[0, c, kh, kw]))
    return contract, kernel_major, flat


def test_fp_order_lanes_then_tiles_then_kernel():
    """acc adds tree(tile nt at kh, kw) in (nt, kh, kw) order; other orders give other bits."""
    cfg = preset("ci")
    tn = cfg.tn
    for seed in range(200):  # the first data set (deterministic) on which all three orders differ
        rng = np.random.default_rng(seed)
        # Magnitudes spread over 2^0..2^30 make reassociation visible in the low bits.
        scale = 2.0 ** rng.integers(0, 30, (1, 2 * tn, 2, 2))
        x = (rng.standard_normal((1, 2 * tn, 2, 2)) * scale).astype(F32)
        w = rng.standard_normal((1, 2 * tn, 2, 2)).astype(F32)
        contract, kernel_major, flat = _fp_orders(x, w, tn)
        if len({float(contract), float(kernel_major), float(flat)}) == 3:
            break
    else:
        pytest.fail("no data set separates the orders")
    got = E.conv_fp(x, w, None, 1, 0, cfg)[0, 0, 0, 0]
    assert np.array(got, F32).view(np.uint32) == np.array(contract, F32).view(np.uint32), f"seed={seed}"


def test_wu_interleave_order():
    """WU with a 1x1 kernel over 7 pixels: banks p[t mod L], then the tree over the L banks."""
    cfg = preset("ci")
    lanes = cfg.acc_interleave
    x = np.array([2.0**25, 1.0, 1.0, 1.0, -(2.0**25), 1.0, 1.0], F32).reshape(1, 1, 1, 7)
    dy = np.ones((1, 1, 1, 7), F32)
    got = E.conv_wu(x, dy, (1, 1, 1, 1), 1, 0, cfg)[0, 0, 0, 0]
    part = [F32(-0.0)] * lanes
    for t in range(7):
        part[t % lanes] = F32(part[t % lanes] + F32(dy[0, 0, 0, t] * x[0, 0, 0, t]))
    expect = seq_tree(part)
    sequential = F32(-0.0)
    for t in range(7):
        sequential = F32(sequential + x[0, 0, 0, t])
    assert expect != sequential
    assert np.array(got, F32).view(np.uint32) == np.array(expect, F32).view(np.uint32)
    # By hand: t = 0..6 -> banks 0,1,2,3,0,1,2; p = [2^25 - 2^25, 1+1, 1+1, 1] = [0, 2, 2, 1];
    # tree (0+2) + (2+1) = 5, while the sequential sum loses the 1.0s to 2^25 (ulp 4) and gives 2.
    assert float(got) == 5.0 and float(sequential) == 2.0


def test_wu_stream_spans_images():
    """The bank index continues across images: splitting the batch would give other bits."""
    cfg = preset("ci")
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((3, 2, 3, 3)) * 2.0 ** rng.integers(0, 28, (3, 2, 3, 3))).astype(F32)
    dy = rng.standard_normal((3, 2, 3, 3)).astype(F32)
    whole = E.conv_wu(x, dy, (2, 2, 1, 1), 1, 0, cfg)
    assert bits_equal(whole, ref_conv_wu(x, dy, (2, 2, 1, 1), 1, 0, cfg.acc_interleave))
    per_image = [E.conv_wu(x[i : i + 1], dy[i : i + 1], (2, 2, 1, 1), 1, 0, cfg) for i in range(3)]
    summed = F32(per_image[0] + per_image[1]) + per_image[2]
    assert not bits_equal(whole, summed)


# ------------------------------------------------------------- 3. IEEE special values
SPECIALS = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-40, -3e-39, 1.17549435e-38,
     3.4e38, -3.4e38, 1.0, -2.5],
    F32,
)


@pytest.mark.parametrize("seed", range(4))
def test_specials_through_every_phase(seed):
    rng = np.random.default_rng(500 + seed)
    cfg = preset("ci")
    k, s, p = 3, 1 + seed % 2, 1
    x = rng.choice(SPECIALS, size=(2, 5, 5, 4)).astype(F32)
    w = rng.choice(SPECIALS, size=(3, 5, k, k)).astype(F32)
    bias = rng.choice(SPECIALS, size=3).astype(F32)
    oh, ow = (5 + 2 * p - k) // s + 1, (4 + 2 * p - k) // s + 1
    dy = rng.choice(SPECIALS, size=(2, 3, oh, ow)).astype(F32)
    with np.errstate(all="ignore"):
        assert bits_equal(E.conv_fp(x, w, bias, s, p, cfg), ref_conv_fp(x, w, bias, s, p, cfg.tn))
        assert bits_equal(E.conv_bp(dy, w, x.shape, s, p, cfg), ref_conv_bp(dy, w, x.shape, s, p, cfg.tn))
        assert bits_equal(E.conv_wu(x, dy, w.shape, s, p, cfg),
                          ref_conv_wu(x, dy, w.shape, s, p, cfg.acc_interleave))


def test_specials_semantics():
    cfg = preset("ci")
    one = np.ones((1, 1, 1, 1), F32)
    # Subnormals pass through unflushed.
    sub = np.full((1, 1, 1, 1), 1e-40, F32)
    assert E.conv_fp(sub, one, None, 1, 0, cfg)[0, 0, 0, 0] == F32(1e-40)
    assert E.conv_fp(np.full((1, 1, 1, 1), 2e-38, F32), np.full((1, 1, 1, 1), 0.25, F32), None, 1, 0, cfg)[
        0, 0, 0, 0] == F32(5e-39)
    # Signed zero: without bias a single -0 product stays -0 (the accumulator starts at -0,
    # the three zero lanes add +0: tree (-0 + +0) = +0, so the result is +0 for Tn > 1).
    y = E.conv_fp(np.full((1, 1, 1, 1), -0.0, F32), one, None, 1, 0, cfg)[0, 0, 0, 0]
    assert np.signbit(y) == (cfg.tn == 1)
    # Inf * 0 in a padding position gives NaN, as the hardware multiplies padding.
    inf_w = np.full((1, 1, 3, 3), np.inf, F32)
    y = E.conv_fp(one, inf_w, None, 1, 1, cfg)
    assert np.isnan(y[0, 0, 0, 0])
    # Overflow to Inf.
    big = np.full((1, 2, 1, 1), 3e38, F32)
    assert E.conv_fp(big, np.ones((1, 2, 1, 1), F32), None, 1, 0, cfg)[0, 0, 0, 0] == np.inf


# --------------------------------------------------------- 4. semantics vs torch (float64)
def _torch_grads(x, w, bias, dy, s, p):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, dtype=torch.float64)
    y = torch.nn.functional.conv2d(xt, wt, bt, s, p)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    xa = torch.tensor(np.abs(x), dtype=torch.float64)
    wa = torch.tensor(np.abs(w), dtype=torch.float64)
    ba = None if bias is None else torch.tensor(np.abs(bias), dtype=torch.float64)
    ya = torch.nn.functional.conv2d(xa, wa, ba, s, p)
    dya = torch.tensor(np.abs(dy), dtype=torch.float64)
    dxa = torch.nn.grad.conv2d_input(x.shape, wa, dya, s, p)
    dwa = torch.nn.grad.conv2d_weight(xa, w.shape, dya, s, p)
    return (y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), ya.numpy(), dxa.numpy(), dwa.numpy())


@pytest.mark.parametrize("cfg_name", ["ci", "zcu102", "odd"])
@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_torch_autograd(cfg_name, seed):
    cfg = preset(cfg_name)
    rng, c = random_case(77 + 31 * seed + len(cfg_name), small=False)
    x, w, bias, dy = make_tensors(rng, c)
    y_t, dx_t, dw_t, ya, dxa, dwa = _torch_grads(x, w, bias, dy, c["s"], c["p"])
    k, n, m = c["k"], c["n"], c["m"]
    msg = f"seed={seed} cfg={cfg_name} case={c}"
    y = E.conv_fp(x, w, bias, c["s"], c["p"], cfg)
    assert np.all(np.abs(y - y_t) <= T.error_bound(ya, T.fp_ops(cfg, n, k, bias is not None))), msg
    dx = E.conv_bp(dy, w, x.shape, c["s"], c["p"], cfg)
    assert np.all(np.abs(dx - dx_t) <= T.error_bound(dxa, T.bp_ops(cfg, m, k))), msg
    t_len = dy.shape[0] * dy.shape[2] * dy.shape[3]
    dw = E.conv_wu(x, dy, w.shape, c["s"], c["p"], cfg)
    assert np.all(np.abs(dw - dw_t) <= T.error_bound(dwa, T.wu_ops(cfg, t_len))), msg


def test_bound_is_not_vacuous():
    """The bound used above is tight enough to catch a one-ulp-per-term systematic error."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 7, 7)).astype(F32)
    w = rng.standard_normal((4, 6, 3, 3)).astype(F32)
    dy = rng.standard_normal((2, 4, 5, 5)).astype(F32)
    y_t, _, _, ya, _, _ = _torch_grads(x, w, None, dy, 1, 0)
    y = E.conv_fp(x, w, None, 1, 0, "ci")
    bound = T.error_bound(ya, T.fp_ops(preset("ci"), 6, 3))
    assert np.all(np.abs(y - y_t) <= bound)
    # A one-part-in-10^4 error on every output must already be caught.
    wrong = y + F32(1e-4) * np.abs(y)
    assert not np.all(np.abs(wrong - y_t) <= bound)


# ------------------------------------------------------------------ 5. input validation
def test_validation_errors_name_the_argument():
    x = np.zeros((1, 2, 5, 5), F32)
    w = np.zeros((3, 2, 3, 3), F32)
    with pytest.raises(ValueError, match="x must be float32"):
        E.conv_fp(x.astype(np.float64), w)
    with pytest.raises(ValueError, match="w must have rank 4"):
        E.conv_fp(x, w[0])
    with pytest.raises(ValueError, match="w shape"):
        E.conv_fp(x, np.zeros((3, 4, 3, 3), F32))
    with pytest.raises(ValueError, match="stride"):
        E.conv_fp(x, w, stride=5)
    with pytest.raises(ValueError, match="padding"):
        E.conv_fp(x, w, padding=3)
    with pytest.raises(ValueError, match="kernel size"):
        E.conv_fp(np.zeros((1, 2, 9, 9), F32), np.zeros((3, 2, 8, 8), F32))
    with pytest.raises(ValueError, match="bias"):
        E.conv_fp(x, w, bias=np.zeros(2, F32))
    with pytest.raises(ValueError, match="dy shape"):
        E.conv_bp(np.zeros((1, 3, 4, 4), F32), w, x.shape)
    with pytest.raises(ValueError, match="w_shape"):
        E.conv_wu(x, np.zeros((1, 3, 3, 3), F32), (3, 5, 3, 3))


def test_detects_flush_to_zero():
    torch.set_flush_denormal(True)
    try:
        if torch.set_flush_denormal(True):  # only on CPUs that support it
            with pytest.raises(RuntimeError, match="subnormals"):
                E.check_fp_environment()
    finally:
        torch.set_flush_denormal(False)
    E.check_fp_environment()


def test_bit_comparison_rule():
    """SPEC section 4: NaN equals any NaN, signed zeros differ, other values compare by bits."""
    qnan = np.array([np.nan], F32)
    payload_nan = np.array([0x7FA00001], np.uint32).view(F32)
    assert bits_equal(qnan, payload_nan)
    assert not bits_equal(np.array([0.0], F32), np.array([-0.0], F32))
    assert not bits_equal(np.array([1.0], F32), np.array([np.nextafter(F32(1), F32(2))], F32))
    assert not bits_equal(np.zeros(3, F32), np.zeros(4, F32))
    assert T.same_bits(np.array([1.0, np.nan, 0.0], F32), np.array([1.0, np.nan, -0.0], F32)).tolist() == [
        True, True, False]
