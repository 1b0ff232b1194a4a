"""Bit-exact functional model of the vector unit: every training op besides the convolutions.

The convolution engine (:mod:`eftrain.golden.engine`) does FP, BP and WU of convolutions and
fully connected layers. Everything else a training iteration needs runs on the accelerator's
vector unit, one descriptor per op, and this module is the executable specification of its
arithmetic: the RTL must produce exactly these bits; torch autograd
(:mod:`eftrain.golden.reference`) is the semantic truth it approximates within the tolerance
stated in :mod:`eftrain.golden.tolerance`.

Arithmetic
----------
IEEE-754 binary32, every operation separately rounded to nearest even, gradual underflow,
no fused multiply-add (SPEC section 4). Division and square root are correctly rounded
(``fdiv``, ``fsqrt``). Scalars a descriptor carries (learning rate, momentum, weight decay,
epsilon) are binary32; the host rounds its Python floats once (:func:`f32`). A NaN result may
be any NaN (the RTL gives the canonical quiet NaN).

Shapes are logical (NCHW); where the data lives in DRAM is :mod:`eftrain.golden.layout`'s
business. Per-channel vectors (bias, batch-norm parameters and statistics) are ``[C]``.

The channel reduction ``R`` (``reduce_channels``)
--------------------------------------------------
Per-channel sums over a feature map ``v [B, C, H, W]`` (batch-norm statistics, bias and
batch-norm gradients, global average pooling) use the weight-update accumulator's order: a
channel's values form one stream over the whole batch, ``t = (b * H + h) * W + w``; ``L``
(``HwConfig.acc_interleave``) partial sums start at ``-0.0`` and ``p[t mod L] += v[t]``; the
result is the adder tree (:func:`eftrain.golden.engine.tree_sum`) over ``p[0 .. L-1]``.
Consecutive values of a channel go to consecutive partial sums, which hides the adder's
latency in hardware.

ReLU
----
``relu(v) = v if v > 0 else +0.0``, and a NaN stays NaN. It is fused into the store of a
convolution or fully connected FP (``Flag.RELU``) and into batch-norm FP. The backward mask
``relu_bp(dy, y) = dy if y > 0 else +0.0`` reads the stored ReLU output ``y``; after a batch norm
the mask is recomputed from the pre-activation instead (see BN BP).

Max pooling (``k x k`` window, stride ``s``, no padding, floor mode)
--------------------------------------------------------------------
FP: each output scans its window in row-major order ``(kh, kw)``; the running maximum starts at
the first element and is replaced when a later element ``v`` satisfies ``v > best`` or ``v`` is
NaN (torch's CPU kernel: the first of equal maxima, the last NaN). It writes the maximum and
the window-relative index ``kh * k + kw`` of the element chosen (uint32).

BP: ``dx`` starts at ``+0.0`` everywhere; for the outputs in row-major ``(oh, ow)`` order,
``dy[oh, ow]`` is added to the input its index selects. Inputs no window selected stay ``+0.0``.

Average pooling
---------------
``k x k``, stride ``s``: FP sums the window in row-major order (starting from ``-0.0``, so the
first add is exact) and divides by ``float32(k * k)``. BP: ``g = dy / float32(k * k)`` per output;
``dx`` starts at ``+0.0`` and every input adds the ``g`` of the windows covering it in row-major
``(oh, ow)`` order.

Global (``H x W`` window, one output per channel): FP ``R(x) / float32(H * W)`` per image (the
channel reduction over one image's plane); BP ``dx[b, c, h, w] = dy[b, c] / float32(H * W)``.

Batch normalization (training mode, ``n = B * H * W`` values per channel, ``nf = float32(n)``)
-------------------------------------------------------------------------------------------------
FP, per channel, three passes over ``x``::

    mean   = R(x) / nf
    s2     = R((x - mean) * (x - mean))
    var    = s2 / nf
    invstd = 1 / sqrt(var + eps)
    z      = ((x - mean) * invstd) * gamma + beta          # per element
    y      = relu(z) with Flag.RELU, else z
    running_mean' = momentum * mean + (1 - momentum) * running_mean
    running_var'  = momentum * (s2 / float32(n - 1)) + (1 - momentum) * running_var

``1 - momentum`` is one binary32 subtraction. ``mean`` and ``invstd`` are saved for BP.

BP, per channel, two passes over ``dy`` and ``x``::

    xhat   = (x - mean) * invstd                           # bit-identical to FP's
    g      = dy if not Flag.RELU else (dy if z > 0 else +0.0)   # z recomputed exactly as in FP
    dbeta  = R(g)
    dgamma = R(g * xhat)
    dx     = ((gamma * invstd) / nf) * ((nf * g - dbeta) - xhat * dgamma)

Bias gradient
-------------
``db[c] = R(dy[:, c])``; a fully connected layer's ``dy [B, M]`` is a ``[B, M, 1, 1]`` map.

SGD (``torch.optim.SGD`` with momentum and weight decay, no dampening, no Nesterov)
-------------------------------------------------------------------------------------
Elementwise over a parameter tensor ``w``, its gradient ``g`` and its momentum buffer ``v``
(all zeros before the first step)::

    d  = g + weight_decay * w
    v' = momentum * v + d
    w' = w - lr * v'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.golden.engine import check_fp_environment, tree_sum

__all__ = [
    "BnForward",
    "avgpool_bp",
    "avgpool_fp",
    "bias_grad",
    "bn_bp",
    "bn_fp",
    "f32",
    "global_avgpool_bp",
    "global_avgpool_fp",
    "maxpool_bp",
    "maxpool_fp",
    "pool_out_size",
    "reduce_channels",
    "relu",
    "relu_bp",
    "sgd",
]

F32 = np.float32
_POS_ZERO = F32(0.0)
_NEG_ZERO = F32(-0.0)


def f32(v: float) -> np.float32:
    """A host scalar rounded once to binary32 (what a descriptor carries)."""
    r = F32(v)
    if not np.isfinite(r):
        raise ValueError(f"scalar {v!r} is not a finite binary32 value")
    return r


def _cfg(cfg: HwConfig | str | None) -> HwConfig:
    return preset("ci" if cfg is None else cfg)


def _f32_array(name: str, a: object, ndim: int | None = None) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != F32:
        raise ValueError(f"{name} must be float32, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {a.shape}")
    return a


def _same_shape(name: str, a: np.ndarray, shape: tuple[int, ...]) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")


def pool_out_size(size: int, k: int, s: int) -> int:
    """Output extent of a ``k``-window, stride-``s`` pool (no padding, floor mode)."""
    return (size - k) // s + 1


def _check_pool(x_shape: Sequence[int], k: int, s: int) -> tuple[int, int]:
    if not 1 <= k <= 7:
        raise ValueError(f"pool window k={k} unsupported (1..7)")
    if not 1 <= s <= 4:
        raise ValueError(f"pool stride s={s} unsupported (1..4)")
    h, w = int(x_shape[2]), int(x_shape[3])
    if h < k or w < k:
        raise ValueError(f"pool window {k} is larger than the {h}x{w} map")
    return pool_out_size(h, k, s), pool_out_size(w, k, s)


# ------------------------------------------------------------------------------------------------
# The channel reduction
# ------------------------------------------------------------------------------------------------


def reduce_channels(v: np.ndarray, cfg: HwConfig | str | None = None) -> np.ndarray:
    """``R``: per-channel sum of ``v [B, C, H, W]`` in the interleaved-accumulator order -> ``[C]``."""
    v = _f32_array("v", v, 4)
    lanes = _cfg(cfg).acc_interleave
    b, c, h, w = v.shape
    t = b * h * w
    stream = np.ascontiguousarray(v.transpose(1, 0, 2, 3)).reshape(c, t)
    chunks = -(-t // lanes)
    padded = np.full((c, chunks * lanes), _NEG_ZERO, F32)  # -0.0 leaves a partial sum unchanged
    padded[:, :t] = stream
    blocks = padded.reshape(c, chunks, lanes)
    p = np.full((c, lanes), _NEG_ZERO, F32)
    for i in range(chunks):
        p += blocks[:, i, :]
    return tree_sum(p, axis=1)


# ------------------------------------------------------------------------------------------------
# ReLU
# ------------------------------------------------------------------------------------------------


def relu(v: np.ndarray) -> np.ndarray:
    """``v if v > 0 else +0.0``; NaN stays NaN."""
    v = _f32_array("v", v)
    return np.where((v > 0) | np.isnan(v), v, _POS_ZERO).astype(F32)


def relu_bp(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dy if y > 0 else +0.0`` (``y`` the stored ReLU output)."""
    dy = _f32_array("dy", dy)
    y = _f32_array("y", y)
    _same_shape("y", y, dy.shape)
    return np.where(y > 0, dy, _POS_ZERO).astype(F32)


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------


def _window(x: np.ndarray, kh: int, kw: int, s: int, oh: int, ow: int) -> np.ndarray:
    return x[:, :, kh : kh + s * (oh - 1) + 1 : s, kw : kw + s * (ow - 1) + 1 : s]


def maxpool_fp(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling FP -> ``(y, idx)``, ``idx`` the window-relative ``kh * k + kw`` (uint32)."""
    x = _f32_array("x", x, 4)
    oh, ow = _check_pool(x.shape, k, s)
    best = _window(x, 0, 0, s, oh, ow).copy()
    idx = np.zeros(best.shape, np.uint32)
    for kh in range(k):
        for kw in range(k):
            if kh == 0 and kw == 0:
                continue
            v = _window(x, kh, kw, s, oh, ow)
            take = (v > best) | np.isnan(v)
            best = np.where(take, v, best)
            idx = np.where(take, np.uint32(kh * k + kw), idx)
    return best.astype(F32), idx.astype(np.uint32)


def _scatter_windows(g: np.ndarray, sel: np.ndarray | None, x_shape: Sequence[int], k: int,
                     s: int) -> np.ndarray:
    """``dx``: ``+0.0`` plus, per input, the ``g`` of covering windows in row-major window order.

    ``sel`` (window-relative indices) restricts each window to the one input it selects.
    For one input, window ``(oh, ow)`` covers it at offset ``(kh, kw) = (h - oh*s, w - ow*s)``:
    ascending ``(oh, ow)`` is descending ``(kh, kw)``, so the offsets run backwards.
    """
    b, c, h, w = (int(v) for v in x_shape)
    oh, ow = g.shape[2], g.shape[3]
    dx = np.zeros((b, c, h, w), F32)
    for kh in range(k - 1, -1, -1):
        for kw in range(k - 1, -1, -1):
            contrib = g if sel is None else np.where(sel == kh * k + kw, g, _NEG_ZERO)
            view = _window(dx, kh, kw, s, oh, ow)
            view += contrib  # -0.0 where not selected: adding it changes nothing
    return dx


def maxpool_bp(dy: np.ndarray, idx: np.ndarray, x_shape: Sequence[int], k: int, s: int) -> np.ndarray:
    """Max pooling BP: ``dy`` added (in window order) to the inputs the indices select."""
    dy = _f32_array("dy", dy, 4)
    xs = tuple(int(v) for v in x_shape)
    oh, ow = _check_pool(xs, k, s)
    _same_shape("dy", dy, (xs[0], xs[1], oh, ow))
    if not isinstance(idx, np.ndarray) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("idx must be an integer numpy array")
    _same_shape("idx", idx, dy.shape)
    if np.any(idx < 0) or np.any(idx >= k * k):
        raise ValueError(f"idx: window-relative indices must be in [0, {k * k})")
    return _scatter_windows(dy, idx, xs, k, s)


def avgpool_fp(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Average pooling FP: row-major window sum divided by ``float32(k * k)``."""
    x = _f32_array("x", x, 4)
    oh, ow = _check_pool(x.shape, k, s)
    acc = np.full((x.shape[0], x.shape[1], oh, ow), _NEG_ZERO, F32)
    for kh in range(k):
        for kw in range(k):
            acc += _window(x, kh, kw, s, oh, ow)
    return (acc / F32(k * k)).astype(F32)


def avgpool_bp(dy: np.ndarray, x_shape: Sequence[int], k: int, s: int) -> np.ndarray:
    """Average pooling BP: ``dy / float32(k * k)`` spread over each window, overlaps added in order."""
    dy = _f32_array("dy", dy, 4)
    xs = tuple(int(v) for v in x_shape)
    oh, ow = _check_pool(xs, k, s)
    _same_shape("dy", dy, (xs[0], xs[1], oh, ow))
    return _scatter_windows((dy / F32(k * k)).astype(F32), None, xs, k, s)


def global_avgpool_fp(x: np.ndarray, cfg: HwConfig | str | None = None) -> np.ndarray:
    """Global average pooling ``[B, C, H, W] -> [B, C, 1, 1]``: ``R`` over each image's plane / ``H*W``."""
    x = _f32_array("x", x, 4)
    b, c, h, w = x.shape
    out = np.empty((b, c, 1, 1), F32)
    for i in range(b):
        out[i, :, 0, 0] = reduce_channels(x[i : i + 1], cfg) / F32(h * w)
    return out


def global_avgpool_bp(dy: np.ndarray, x_shape: Sequence[int]) -> np.ndarray:
    """Global average pooling BP: ``dx[b, c, h, w] = dy[b, c] / float32(H * W)``."""
    dy = _f32_array("dy", dy, 4)
    b, c, h, w = (int(v) for v in x_shape)
    _same_shape("dy", dy, (b, c, 1, 1))
    g = (dy / F32(h * w)).astype(F32)
    return np.ascontiguousarray(np.broadcast_to(g, (b, c, h, w)))


# ------------------------------------------------------------------------------------------------
# Batch normalization
# ------------------------------------------------------------------------------------------------


class BnForward(NamedTuple):
    """What batch-norm FP writes: the output, the updated running statistics and the saved ones."""

    y: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    mean: np.ndarray
    invstd: np.ndarray


def _bn_check(x: np.ndarray, **vectors: np.ndarray) -> int:
    x = _f32_array("x", x, 4)
    c = x.shape[1]
    for name, v in vectors.items():
        _f32_array(name, v, 1)
        _same_shape(name, v, (c,))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    if n < 2:
        raise ValueError(f"x: batch norm in training needs more than one value per channel, "
                         f"got shape {x.shape}")
    return n


def _ch(v: np.ndarray) -> np.ndarray:
    return v[None, :, None, None]


def bn_fp(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
          running_var: np.ndarray, momentum: float, eps: float, relu_out: bool = False,
          cfg: HwConfig | str | None = None) -> BnForward:
    """Batch norm FP in training mode (module documentation for the order)."""
    n = _bn_check(x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    check_fp_environment()
    mom, e = f32(momentum), f32(eps)
    nf = F32(n)
    mean = (reduce_channels(x, cfg) / nf).astype(F32)
    d = (x - _ch(mean)).astype(F32)
    s2 = reduce_channels((d * d).astype(F32), cfg)
    var = (s2 / nf).astype(F32)
    invstd = (F32(1.0) / np.sqrt((var + e).astype(F32))).astype(F32)
    z = (((d * _ch(invstd)).astype(F32) * _ch(gamma)).astype(F32) + _ch(beta)).astype(F32)
    y = relu(z) if relu_out else z
    omm = F32(F32(1.0) - mom)
    rm = ((mom * mean).astype(F32) + (omm * running_mean).astype(F32)).astype(F32)
    unbiased = (s2 / F32(n - 1)).astype(F32)
    rv = ((mom * unbiased).astype(F32) + (omm * running_var).astype(F32)).astype(F32)
    return BnForward(y, rm, rv, mean, invstd)


def bn_bp(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
          invstd: np.ndarray, relu_out: bool = False,
          cfg: HwConfig | str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch norm BP in training mode -> ``(dx, dgamma, dbeta)`` (module documentation for the order)."""
    n = _bn_check(x, gamma=gamma, beta=beta, mean=mean, invstd=invstd)
    dy = _f32_array("dy", dy, 4)
    _same_shape("dy", dy, x.shape)
    check_fp_environment()
    nf = F32(n)
    xhat = ((x - _ch(mean)).astype(F32) * _ch(invstd)).astype(F32)
    if relu_out:
        z = ((xhat * _ch(gamma)).astype(F32) + _ch(beta)).astype(F32)
        g = np.where(z > 0, dy, _POS_ZERO).astype(F32)
    else:
        g = dy
    dbeta = reduce_channels(g, cfg)
    dgamma = reduce_channels((g * xhat).astype(F32), cfg)
    scale = ((gamma * invstd).astype(F32) / nf).astype(F32)
    inner = (((nf * g).astype(F32) - _ch(dbeta)).astype(F32) - (xhat * _ch(dgamma)).astype(F32)).astype(F32)
    dx = (_ch(scale) * inner).astype(F32)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------------------------------------
# Bias gradient and SGD
# ------------------------------------------------------------------------------------------------


def bias_grad(dy: np.ndarray, cfg: HwConfig | str | None = None) -> np.ndarray:
    """``db = R(dy)`` per channel; ``dy`` is ``[B, C, H, W]`` or ``[B, C]`` (a 1 x 1 map)."""
    dy = _f32_array("dy", dy)
    if dy.ndim == 2:
        dy = dy[:, :, None, None]
    if dy.ndim != 4:
        raise ValueError(f"dy must have rank 2 or 4, got shape {dy.shape}")
    return reduce_channels(dy, cfg)


def sgd(w: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float = 0.0,
        weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One SGD step -> ``(w', v')`` (module documentation for the order)."""
    w = _f32_array("w", w)
    g = _f32_array("g", g)
    v = _f32_array("v", v)
    _same_shape("g", g, w.shape)
    _same_shape("v", v, w.shape)
    lr_f, mom, wd = f32(lr), f32(momentum), f32(weight_decay)
    if lr_f < 0 or mom < 0 or wd < 0:
        raise ValueError("lr, momentum and weight_decay must be >= 0")
    d = (g + (wd * w).astype(F32)).astype(F32)
    v2 = ((mom * v).astype(F32) + d).astype(F32)
    w2 = (w - (lr_f * v2).astype(F32)).astype(F32)
    return w2, v2
