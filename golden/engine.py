"""Bit-exact functional model of the unified engine: the arithmetic order contract.

This module is the executable specification of the accelerator's arithmetic. The RTL
(``rtl/``), the HLS kernel (``hls/``) and the board must produce exactly these bits
(SPEC section 4); torch autograd (:mod:`eftrain.golden.reference`) is the semantic truth
it approximates within a stated tolerance. If the hardware changes an order, this file
changes with it, and so does the contract below.

Arithmetic
----------
IEEE-754 binary32 everywhere; every multiply and every add is a separate operation
rounded to nearest, ties to even, with gradual underflow (subnormal inputs and results
kept, never flushed). There is no fused multiply-add. A NaN result may be any NaN (the
RTL produces the canonical quiet NaN ``0x7FC00000``). Padding, zero-inserted positions
and unused lanes hold ``+0.0`` and are multiplied like any other value, so ``Inf * 0``
in such a place gives NaN, exactly as in the hardware.

The adder tree (``tree_sum``)
-----------------------------
A tree over ``n`` lanes adds adjacent pairs level by level: level 1 forms
``v0+v1, v2+v3, ...``; if the count is odd the last value passes to the next level
unchanged (it is the last element there too). This repeats until one value is left.
For n = 5: ``((v0+v1) + (v2+v3)) + v4``. For n = 16 it is the balanced binary tree.
The lane count is the hardware's Tn, whatever the layer's channel count: lanes beyond the
channels carry ``+0.0 * +0.0 = +0.0`` products and still take part.

The same tree shape combines the L partial sums of a WU accumulator.

FP: ``y = conv(x, w) + bias`` (``conv_fp``)
--------------------------------------------
For every output element ``y[b, m, oh, ow]`` the accumulator starts at ``bias[m]`` (or
at ``-0.0`` without bias: ``-0.0 + s == s`` for every ``s``, signed zeros included, so
the first add is exact). Then, in this order::

    for nt in 0 .. ceil(N / Tn) - 1:          # input-channel tiles, ascending
      for kh in 0 .. K-1:                      # kernel rows
        for kw in 0 .. K-1:                    # kernel columns
          s = tree_sum over lanes j = 0 .. Tn-1 of
                w[m, nt*Tn + j, kh, kw] * xpad[b, nt*Tn + j, oh*S + kh, ow*S + kw]
          acc = acc + s

``xpad`` is ``x`` with P rows/columns of ``+0.0`` on every side and with channels
``N .. ceil(N/Tn)*Tn - 1`` all ``+0.0`` (as are the matching weights). The order does not
depend on how the controller tiles rows, pixels, output channels or the batch, nor on
Tm: only on Tn. When the controller splits the input-channel tiles into chunks that do
not fit on chip at once, it stores the partial ``acc`` and loads it back as the next
chunk's initial value, which continues exactly this sequence.

BP: ``dx = conv_transpose(dy, w)`` (``conv_bp``)
-------------------------------------------------
BP is the FP engine (same tree over Tn lanes, same loop order) applied to

* the **gradient map** ``dz``: ``dy`` with ``S-1`` zeros inserted between neighbouring
  pixels (stride), then placed at row/column offset ``K-1-P`` inside an ``+0.0`` map of
  ``(H+K-1) x (W+K-1)``, so that every one of the ``H x W`` input pixels is computed the
  same way (including rows/columns that no output pixel touched: they get sums of
  products with zeros);
* the **transformed weights** ``wt[n, m, kh, kw] = w[m, n, K-1-kh, K-1-kw]`` (180-degree
  flip and in/out channel swap, done on chip from the one DRAM weight layout);
* stride 1, no further padding, no bias; the reduction runs over the output-gradient
  channels ``m`` in tiles of Tn lanes, ``mt`` ascending, then ``kh``, ``kw`` of ``wt``.

So ``dx[b, n, h, w]`` starts at ``-0.0`` and adds, for ``mt`` then ``kh`` then ``kw``, the tree
over ``j`` of ``wt[n, mt*Tn+j, kh, kw] * dz[b, mt*Tn+j, h+kh, w+kw]``. Supported padding is
``0 <= P <= K-1``.

WU: ``dw = dL/dw`` (``conv_wu``)
---------------------------------
Every weight-gradient element ``dw[m, n, kh, kw]`` is an accumulator with ``L``
(``HwConfig.acc_interleave``) interleaved partial sums ``p[0..L-1]``, all starting at
``-0.0``. The products arrive as one stream over the whole batch::

    t = 0
    for b in 0 .. B-1:                        # images, ascending
      for oh in 0 .. OH-1:                    # output rows
        for ow in 0 .. OW-1:                  # output columns
          p[t mod L] = p[t mod L] + dy[b, m, oh, ow] * xpad[b, n, oh*S + kh, ow*S + kw]
          t = t + 1
    dw[m, n, kh, kw] = tree_sum(p[0], ..., p[L-1])

The stream position ``t`` counts pixels of the whole batch, so the bank an element uses
is independent of row tiling (the controller carries ``t mod L`` across tiles and images).
Consecutive pixels go to consecutive banks, so each bank is revisited every L cycles and
the adder's feedback latency (<= L) is hidden. Partial sums a short stream never reached
stay ``-0.0``, which the tree adds exactly.

FC
--
A fully connected layer ``y[b, m] = sum_n w[m, n] x[b, n] + bias[m]`` is the convolution
with K = 1 over a 1 x 1 map (``fc_fp``, ``fc_bp``, ``fc_wu``), same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from eftrain.config import HwConfig, preset

__all__ = [
    "check_fp_environment",
    "conv_bp",
    "conv_fp",
    "conv_out_size",
    "conv_wu",
    "fc_bp",
    "fc_fp",
    "fc_wu",
    "tree_sum",
]

F32 = np.float32
_NEG_ZERO = F32(-0.0)
# Bound on the elements of one temporary product array (keeps memory ~ 256 MB at most).
_MAX_TEMP_ELEMS = 1 << 25
# Elements of one block of products (4 MiB): big enough to amortize per-call overhead, small enough for cache.
_CACHE_ELEMS = 1 << 20


def check_fp_environment() -> None:
    """Raise RuntimeError if the CPU flushes float32 subnormals (FTZ/DAZ set).

    Another library in the process (for example ``torch.set_flush_denormal(True)``) can
    switch the floating-point unit to flush subnormals, which would silently change the
    bits this model produces.
    """
    tiny = torch.tensor([1e-38], dtype=torch.float32)
    sub = torch.tensor([1e-45], dtype=torch.float32)
    if (tiny * 0.5).item() == 0 or (sub + 0.0).item() == 0 or (np.array([1e-38], F32) * F32(0.5))[0] == 0:
        raise RuntimeError(
            "float32 subnormals are flushed to zero in this process (FTZ/DAZ); "
            "the golden model needs IEEE gradual underflow (torch.set_flush_denormal(False))"
        )


def _tree(a: torch.Tensor) -> torch.Tensor:
    """Adder tree over dim 0 of a float32 tensor (see module doc)."""
    while a.shape[0] > 1:
        n = a.shape[0]
        pairs = a[0 : n - 1 : 2] + a[1:n:2]
        a = torch.cat([pairs, a[n - 1 :]], dim=0) if n % 2 else pairs
    return a[0]


def tree_sum(v: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sum float32 ``v`` along ``axis`` with the hardware's adder-tree shape (see module doc)."""
    a = np.moveaxis(np.asarray(v, dtype=F32), axis, 0)
    if a.shape[0] == 0:
        raise ValueError("tree_sum needs at least one lane")
    return _tree(torch.from_numpy(np.ascontiguousarray(a))).numpy()


def conv_out_size(size: int, k: int, stride: int, padding: int) -> int:
    """Output extent of a convolution along one axis."""
    return (size + 2 * padding - k) // stride + 1


def _cfg(cfg: HwConfig | str | None) -> HwConfig:
    return preset("ci" if cfg is None else cfg)


# The elementwise float32 work runs on torch CPU tensors: each torch mul/add is one IEEE
# binary32 operation per element (round to nearest even, subnormals kept), like numpy's,
# but multi-threaded and in place, which makes the sequential sums several times faster.


def _engine(x: np.ndarray, w: np.ndarray, init: np.ndarray | None, stride: int, lanes: int) -> np.ndarray:
    """The FP datapath: ``x`` [B,N,Hp,Wp] already padded, ``w`` [M,N,K,K], stride ``stride``.

    Returns [B, M, OH, OW]. ``init`` is the per-output-channel initial value (bias) or None.
    """
    bsz, n, hp, wp = x.shape
    m, _, k, _ = w.shape
    oh = (hp - k) // stride + 1
    ow = (wp - k) // stride + 1
    tiles = -(-n // lanes)
    npad = tiles * lanes
    xt = torch.zeros((npad, bsz, hp, wp), dtype=torch.float32)
    xt[:n] = torch.from_numpy(np.array(x, F32, copy=True)).permute(1, 0, 2, 3)
    wt = torch.zeros((npad, k, k, m), dtype=torch.float32)  # lane-major weights
    wt[:n] = torch.from_numpy(np.array(w, F32, copy=True)).permute(1, 2, 3, 0)
    pixels = bsz * oh * ow
    acc = torch.empty((m, pixels), dtype=torch.float32)
    if init is None:
        acc.fill_(-0.0)
    else:
        acc.copy_(torch.from_numpy(np.ascontiguousarray(init, dtype=F32))[:, None].expand(m, pixels))
    # Output elements are independent of each other: only the order of the adds into one
    # element is fixed. So the work is blocked over images, pixels and output channels to
    # keep temporaries cache-sized; every element still sees (nt, kh, kw) in order.
    hi_h = stride * (oh - 1) + 1
    hi_w = stride * (ow - 1) + 1
    img_pix = oh * ow
    per_img = npad * k * k * img_pix
    gimg = max(1, min(bsz, _MAX_TEMP_ELEMS // max(1, per_img)))
    pblk = min(2048, gimg * img_pix)
    mblk = max(1, min(m, _CACHE_ELEMS // (lanes * pblk)))
    for b0 in range(0, bsz, gimg):
        b1 = min(bsz, b0 + gimg)
        # im2col of this image group: cols[nt, kh, kw, lane, pixel]
        gp = (b1 - b0) * img_pix
        cols = torch.empty((tiles, k, k, lanes, gp), dtype=torch.float32)
        for kh in range(k):
            for kw in range(k):
                sl = xt[:, b0:b1, kh : kh + hi_h : stride, kw : kw + hi_w : stride]
                cols[:, kh, kw] = sl.reshape(tiles, lanes, gp)
        for p0 in range(0, gp, pblk):
            p1 = min(gp, p0 + pblk)
            for m0 in range(0, m, mblk):
                m1 = min(m, m0 + mblk)
                blk = acc[m0:m1, b0 * img_pix + p0 : b0 * img_pix + p1]
                for nt in range(tiles):
                    for kh in range(k):
                        for kw in range(k):
                            ws = wt[nt * lanes : (nt + 1) * lanes, kh, kw, m0:m1, None]  # [lanes, mb, 1]
                            xs = cols[nt, kh, kw, :, None, p0:p1]  # [lanes, 1, pb]
                            blk += _tree(ws * xs)
    return acc.reshape(m, bsz, oh, ow).permute(1, 0, 2, 3).contiguous().numpy()


def _as_f32(name: str, a: np.ndarray, ndim: int) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != F32:
        raise ValueError(f"{name} must be float32, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {a.shape}")
    return a


def _check_conv(k: int, stride: int, padding: int) -> None:
    if not 1 <= k <= 7:
        raise ValueError(f"kernel size K={k} unsupported (1..7)")
    if not 1 <= stride <= 4:
        raise ValueError(f"stride={stride} unsupported (1..4)")
    if not 0 <= padding <= k - 1:
        raise ValueError(f"padding={padding} unsupported (0..K-1 = {k - 1})")


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    if p == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def check_fp_args(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride: int, padding: int) -> None:
    """Validate FP arguments; ValueError naming the argument (shared by every backend)."""
    _as_f32("x", x, 4)
    _as_f32("w", w, 4)
    k = w.shape[2]
    if w.shape[1] != x.shape[1] or w.shape[3] != k:
        raise ValueError(f"w shape {w.shape} does not match x shape {x.shape} (need [M, {x.shape[1]}, K, K])")
    _check_conv(k, stride, padding)
    if bias is not None:
        _as_f32("bias", bias, 1)
        if bias.shape[0] != w.shape[0]:
            raise ValueError(f"bias has {bias.shape[0]} entries, w has {w.shape[0]} output channels")
    if conv_out_size(x.shape[2], k, stride, padding) < 1 or conv_out_size(x.shape[3], k, stride, padding) < 1:
        raise ValueError(f"x spatial size {x.shape[2:]} is smaller than the kernel {k} after padding")


def check_bp_args(dy: np.ndarray, w: np.ndarray, x_shape: Sequence[int], stride: int, padding: int) -> None:
    """Validate BP arguments; ValueError naming the argument (shared by every backend)."""
    _as_f32("dy", dy, 4)
    _as_f32("w", w, 4)
    _check_grad_shapes(dy, x_shape, w.shape, stride, padding, "forward output")


def check_wu_args(x: np.ndarray, dy: np.ndarray, w_shape: Sequence[int], stride: int, padding: int) -> None:
    """Validate WU arguments; ValueError naming the argument (shared by every backend)."""
    _as_f32("x", x, 4)
    _as_f32("dy", dy, 4)
    _check_grad_shapes(dy, x.shape, w_shape, stride, padding, "layer")


def conv_fp(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int = 0,
    cfg: HwConfig | str | None = None,
) -> np.ndarray:
    """Forward convolution in the hardware's order. x [B,N,H,W], w [M,N,K,K] -> [B,M,OH,OW]."""
    c = _cfg(cfg)
    check_fp_args(x, w, bias, stride, padding)
    check_fp_environment()
    return _engine(_pad(x, padding), w, bias, stride, c.tn)


def gradient_map(dy: np.ndarray, h: int, w: int, k: int, stride: int, padding: int) -> np.ndarray:
    """The zero-inserted, padded output-gradient map BP convolves: [B, M, H+K-1, W+K-1]."""
    bsz, m, oh, ow = dy.shape
    dz = np.zeros((bsz, m, h + k - 1, w + k - 1), F32)
    o = k - 1 - padding
    dz[:, :, o : o + stride * (oh - 1) + 1 : stride, o : o + stride * (ow - 1) + 1 : stride] = dy
    return dz


def transformed_weights(w: np.ndarray) -> np.ndarray:
    """BP weights: 180-degree flip and in/out swap, ``wt[n, m, kh, kw] = w[m, n, K-1-kh, K-1-kw]``."""
    return w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy()


def _check_grad_shapes(
    dy: np.ndarray, x_shape: Sequence[int], w_shape: Sequence[int], stride: int, padding: int, what: str
) -> tuple[int, ...]:
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must have 4 entries (B, N, H, W), got {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w_shape must have 4 entries (M, N, K, K), got {tuple(w_shape)}")
    bsz, n, h, wd = (int(v) for v in x_shape)
    m, n2, k, k2 = (int(v) for v in w_shape)
    if min(bsz, n, h, wd, m) < 1:
        raise ValueError(f"x_shape {tuple(x_shape)} and w_shape {tuple(w_shape)} must be positive")
    if n2 != n or k2 != k:
        raise ValueError(f"w_shape {tuple(w_shape)} does not match x_shape {tuple(x_shape)}")
    _check_conv(k, stride, padding)
    oh, ow = conv_out_size(h, k, stride, padding), conv_out_size(wd, k, stride, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"x spatial size {(h, wd)} is smaller than the kernel {k} after padding")
    if tuple(dy.shape) != (bsz, m, oh, ow):
        raise ValueError(f"dy shape {dy.shape} does not match the {what}: expected {(bsz, m, oh, ow)}")
    return bsz, n, h, wd, m, k, oh, ow


def conv_bp(
    dy: np.ndarray,
    w: np.ndarray,
    x_shape: Sequence[int],
    stride: int = 1,
    padding: int = 0,
    cfg: HwConfig | str | None = None,
) -> np.ndarray:
    """Input gradient in the hardware's order. dy [B,M,OH,OW], w [M,N,K,K] -> dx [B,N,H,W]."""
    c = _cfg(cfg)
    dy = _as_f32("dy", dy, 4)
    w = _as_f32("w", w, 4)
    _, _, h, wd, _, k, _, _ = _check_grad_shapes(dy, x_shape, w.shape, stride, padding, "forward output")
    check_fp_environment()
    dz = gradient_map(dy, h, wd, k, stride, padding)
    return _engine(dz, transformed_weights(w), None, 1, c.tn)


def conv_wu(
    x: np.ndarray,
    dy: np.ndarray,
    w_shape: Sequence[int],
    stride: int = 1,
    padding: int = 0,
    cfg: HwConfig | str | None = None,
) -> np.ndarray:
    """Weight gradient in the hardware's order. x [B,N,H,W], dy [B,M,OH,OW] -> dw [M,N,K,K]."""
    c = _cfg(cfg)
    x = _as_f32("x", x, 4)
    dy = _as_f32("dy", dy, 4)
    bsz, n, _, _, m, k, oh, ow = _check_grad_shapes(dy, x.shape, w_shape, stride, padding, "layer")
    check_fp_environment()
    lanes = c.acc_interleave
    xp = _pad(x, padding)
    t_len = bsz * oh * ow
    # Stream operands, t = (b*OH + oh)*OW + ow.
    dys = np.ascontiguousarray(dy.transpose(1, 0, 2, 3)).reshape(m, t_len)
    xs = np.empty((n, k, k, t_len), F32)
    xc = xp.transpose(1, 0, 2, 3)
    for kh in range(k):
        for kw in range(k):
            sl = xc[:, :, kh : kh + stride * (oh - 1) + 1 : stride, kw : kw + stride * (ow - 1) + 1 : stride]
            xs[:, kh, kw, :] = sl.reshape(n, t_len)
    # Chunk c of L consecutive pixels feeds every bank once: p[..., j] += dy[cL+j] * x[cL+j].
    chunks = -(-t_len // lanes)
    tpad = chunks * lanes
    nkk = n * k * k
    dyc = torch.zeros((tpad, m), dtype=torch.float32)
    dyc[:t_len] = torch.from_numpy(dys).T
    xcs = torch.zeros((tpad, nkk), dtype=torch.float32)
    xcs[:t_len] = torch.from_numpy(xs.reshape(nkk, t_len)).T
    dyc = dyc.reshape(chunks, lanes, m).permute(0, 2, 1).contiguous()  # [c, m, L]
    xcs = xcs.reshape(chunks, lanes, nkk).permute(0, 2, 1).contiguous()  # [c, nkk, L]
    part = torch.full((m, nkk, lanes), -0.0, dtype=torch.float32)
    tmp = torch.empty_like(part)
    last = t_len - (chunks - 1) * lanes  # banks the final chunk really feeds
    for ci in range(chunks):
        torch.mul(dyc[ci][:, None, :], xcs[ci][None, :, :], out=tmp)
        if ci == chunks - 1 and last != lanes:
            part[..., :last] += tmp[..., :last]
        else:
            part += tmp
    return _tree(part.permute(2, 0, 1).contiguous()).reshape(m, n, k, k).numpy()


def fc_fp(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, cfg: HwConfig | str | None = None
) -> np.ndarray:
    """Fully connected forward, x [B,N], w [M,N] -> [B,M] (K=1 conv on a 1x1 map)."""
    x = _as_f32("x", x, 2)
    w = _as_f32("w", w, 2)
    return conv_fp(x[:, :, None, None], w[:, :, None, None], bias, 1, 0, cfg)[:, :, 0, 0]


def fc_bp(dy: np.ndarray, w: np.ndarray, cfg: HwConfig | str | None = None) -> np.ndarray:
    """Fully connected input gradient, dy [B,M], w [M,N] -> dx [B,N]."""
    dy = _as_f32("dy", dy, 2)
    w = _as_f32("w", w, 2)
    return conv_bp(dy[:, :, None, None], w[:, :, None, None], (dy.shape[0], w.shape[1], 1, 1), 1, 0, cfg)[
        :, :, 0, 0
    ]


def fc_wu(x: np.ndarray, dy: np.ndarray, cfg: HwConfig | str | None = None) -> np.ndarray:
    """Fully connected weight gradient, x [B,N], dy [B,M] -> dw [M,N]."""
    x = _as_f32("x", x, 2)
    dy = _as_f32("dy", dy, 2)
    return conv_wu(x[:, :, None, None], dy[:, :, None, None], (dy.shape[1], x.shape[1], 1, 1), 1, 0, cfg)[
        :, :, 0, 0
    ]
