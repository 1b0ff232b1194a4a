"""Semantic truth: every training op of the accelerator, computed by torch autograd.

This module says *what the math is*. It is the top of the verification ladder
(``torch autograd ~= golden functional model == RTL == HLS csim``): the bit-exact functional model in
:mod:`eftrain.golden.engine` is compared with these functions within a stated tolerance, never bit for bit,
because torch is free to sum in any order.

Conventions shared by every function:

- Inputs and outputs are NumPy arrays. Floating-point inputs must be ``float32`` or ``float64`` (native byte
  order) and all floating-point inputs of one call must share that dtype; results have the same dtype.
- Inputs are copied before torch sees them: no function modifies its arguments, and no result aliases one.
- Activations are ``NCHW``, convolution weights ``OIHW`` (out, in, kernel height, kernel width), fully
  connected activations ``[B, N]`` and weights ``[M, N]`` (``y = x @ w.T + b``).
- Gradients are obtained with ``.backward(upstream)`` on the forward expression, so a backward function
  is the derivative of the matching forward function by construction (for example ``conv2d_bp`` handles
  output sizes where ``(H + 2P - K) % S != 0``: rows and columns no window reaches get zero gradient).
- Bad arguments raise ``ValueError`` (``TypeError`` for a non-array where an array is expected) with a
  message that starts with the name of the offending argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "BatchNormSaved",
    "avgpool_bp",
    "avgpool_fp",
    "batchnorm_bp",
    "batchnorm_fp",
    "conv2d_bias_grad",
    "conv2d_bp",
    "conv2d_fp",
    "conv2d_wu",
    "global_avgpool_bp",
    "global_avgpool_fp",
    "linear_bp",
    "linear_fp",
    "linear_wu",
    "maxpool_bp",
    "maxpool_fp",
    "relu_bp",
    "relu_fp",
    "sgd_step",
    "softmax_ce",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


# --------------------------------------------------------------------------------------------------------
# Argument checking and NumPy <-> torch conversion
# --------------------------------------------------------------------------------------------------------


def _check_array(name: str, a: object, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Check that ``a`` is a float32/float64 array of the given rank(s) with no empty dimension."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name}: expected rank {want}, got rank {a.ndim} (shape {a.shape})")
    if a.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name}: every dimension must be positive, got shape {a.shape}")
    return a


def _check_same_dtype(ref_name: str, ref: np.ndarray, **others: np.ndarray | None) -> None:
    """Check that every array in ``others`` has the dtype of ``ref``."""
    for name, a in others.items():
        if a is not None and a.dtype != ref.dtype:
            raise ValueError(f"{name}: dtype {a.dtype} differs from {ref_name} dtype {ref.dtype}")


def _check_shape(name: str, a: np.ndarray, shape: tuple[int, ...], why: str) -> None:
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} ({why}), got {a.shape}")


def _pos_int(name: str, v: object) -> int:
    """A strictly positive Python/NumPy integer (bool rejected)."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


def _nonneg_int(name: str, v: object) -> int:
    """A non-negative Python/NumPy integer (bool rejected)."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
    return int(v)


def _real(name: str, v: object, *, minimum: float | None = None, positive: bool = False) -> float:
    """A finite real number, optionally bounded below (inclusive) or strictly positive."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise ValueError(f"{name}: expected a real number, got {v!r}")
    f = float(v)
    if not np.isfinite(f):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    if positive and f <= 0.0:
        raise ValueError(f"{name}: expected a positive number, got {v!r}")
    if minimum is not None and f < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {v!r}")
    return f


def _shape(name: str, shape: object, ndim: int) -> tuple[int, ...]:
    """A shape tuple of ``ndim`` positive integers."""
    if not isinstance(shape, Sequence) or len(shape) != ndim:
        raise ValueError(f"{name}: expected a sequence of {ndim} positive integers, got {shape!r}")
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d <= 0:
            raise ValueError(f"{name}: expected a sequence of {ndim} positive integers, got {shape!r}")
    return tuple(int(d) for d in shape)


def _conv_out(name: str, size: int, k: int, s: int, p: int) -> int:
    """Output extent of a window of ``k`` with stride ``s`` over ``size + 2p`` (floor mode)."""
    if size + 2 * p < k:
        raise ValueError(f"{name}: kernel {k} is larger than the padded input extent {size} + 2*{p}")
    return (size + 2 * p - k) // s + 1


def _t(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A private torch copy of ``a`` (so torch can never write into the caller's array)."""
    t = torch.from_numpy(np.array(a, copy=True, order="C"))
    return t.requires_grad_(requires_grad)


def _np(t: torch.Tensor) -> np.ndarray:
    """A NumPy array owning a copy of ``t``'s values."""
    return t.detach().numpy().copy()


def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
    """A zero leaf tensor that requires grad (the point a linear op is differentiated at)."""
    return torch.zeros(shape, dtype=_TORCH_DTYPE[np.dtype(dtype)], requires_grad=True)


def _grad(t: torch.Tensor) -> np.ndarray:
    """The gradient accumulated in leaf ``t`` (zero if autograd never reached it)."""
    if t.grad is None:
        return torch.zeros_like(t).detach().numpy()
    return _np(t.grad)


# --------------------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------------------


def conv2d_fp(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution forward: ``y[b,o,i,j] = bias[o] + sum_{c,kh,kw} w[o,c,kh,kw] * xpad[b,c,S*i+kh,S*j+kw]``.

    Args:
        x: input activations ``[B, C, H, W]``.
        w: weights ``[O, C, KH, KW]``.
        bias: optional ``[O]``.
        stride: stride ``S >= 1`` in both directions.
        padding: zero padding ``P >= 0`` on every side.

    Returns:
        ``y`` of shape ``[B, O, (H + 2P - KH) // S + 1, (W + 2P - KW) // S + 1]``.
    """
    _check_array("x", x, 4)
    _check_array("w", w, 4)
    _check_same_dtype("x", x, w=w)
    s = _pos_int("stride", stride)
    p = _nonneg_int("padding", padding)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w: input channels {w.shape[1]} differ from x channels {x.shape[1]}")
    _conv_out("w", x.shape[2], w.shape[2], s, p)
    _conv_out("w", x.shape[3], w.shape[3], s, p)
    if bias is not None:
        _check_array("bias", bias, 1)
        _check_same_dtype("x", x, bias=bias)
        _check_shape("bias", bias, (w.shape[0],), "one per output channel of w")
    with torch.no_grad():
        y = F.conv2d(_t(x), _t(w), None if bias is None else _t(bias), stride=s, padding=p)
    return _np(y)


def conv2d_bp(
    dy: np.ndarray, w: np.ndarray, x_shape: Sequence[int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution backward (input gradient) ``dx = d(sum(y * dy)) / dx`` for ``y = conv2d_fp(x, w)``.

    Args:
        dy: output gradient ``[B, O, Ho, Wo]`` with ``Ho, Wo`` as ``conv2d_fp`` computes them.
        w: weights ``[O, C, KH, KW]``.
        x_shape: ``(B, C, H, W)`` of the forward input (needed because the forward size is not unique
            when ``(H + 2P - KH) % S != 0``).
        stride, padding: as in the forward pass.

    Returns:
        ``dx`` of shape ``x_shape``.
    """
    _check_array("dy", dy, 4)
    _check_array("w", w, 4)
    _check_same_dtype("dy", dy, w=w)
    xs = _shape("x_shape", x_shape, 4)
    s = _pos_int("stride", stride)
    p = _nonneg_int("padding", padding)
    if w.shape[1] != xs[1]:
        raise ValueError(f"w: input channels {w.shape[1]} differ from x_shape channels {xs[1]}")
    ho = _conv_out("w", xs[2], w.shape[2], s, p)
    wo = _conv_out("w", xs[3], w.shape[3], s, p)
    _check_shape("dy", dy, (xs[0], w.shape[0], ho, wo), "forward output of x_shape, w, stride, padding")
    with torch.enable_grad():
        xt = _zeros(xs, dy.dtype)  # conv is linear in x: the point of differentiation does not matter
        F.conv2d(xt, _t(w), None, stride=s, padding=p).backward(_t(dy))
    return _grad(xt)


def conv2d_wu(
    x: np.ndarray, dy: np.ndarray, w_shape: Sequence[int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution weight update (weight gradient) ``dw = d(sum(y * dy)) / dw`` for ``y = conv2d_fp(x, w)``.

    Args:
        x: forward input ``[B, C, H, W]``.
        dy: output gradient ``[B, O, Ho, Wo]``.
        w_shape: ``(O, C, KH, KW)``.
        stride, padding: as in the forward pass.

    Returns:
        ``dw`` of shape ``w_shape`` (summed over the batch).
    """
    _check_array("x", x, 4)
    _check_array("dy", dy, 4)
    _check_same_dtype("x", x, dy=dy)
    ws = _shape("w_shape", w_shape, 4)
    s = _pos_int("stride", stride)
    p = _nonneg_int("padding", padding)
    if ws[1] != x.shape[1]:
        raise ValueError(f"w_shape: input channels {ws[1]} differ from x channels {x.shape[1]}")
    ho = _conv_out("w_shape", x.shape[2], ws[2], s, p)
    wo = _conv_out("w_shape", x.shape[3], ws[3], s, p)
    _check_shape("dy", dy, (x.shape[0], ws[0], ho, wo), "forward output of x, w_shape, stride, padding")
    with torch.enable_grad():
        wt = _zeros(ws, x.dtype)  # conv is linear in w
        F.conv2d(_t(x), wt, None, stride=s, padding=p).backward(_t(dy))
    return _grad(wt)


def conv2d_bias_grad(dy: np.ndarray) -> np.ndarray:
    """Bias gradient of a convolution: ``db[o] = sum_{b,i,j} dy[b,o,i,j]``, shape ``[O]``."""
    _check_array("dy", dy, 4)
    with torch.enable_grad():
        bt = _zeros((dy.shape[1],), dy.dtype)
        bt.view(1, -1, 1, 1).expand(dy.shape).backward(_t(dy))
    return _grad(bt)


# --------------------------------------------------------------------------------------------------------
# Fully connected
# --------------------------------------------------------------------------------------------------------


def linear_fp(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """Fully connected forward ``y = x @ w.T (+ bias)``.

    Shapes: ``x [B, N]``, ``w [M, N]``, ``bias [M]``, result ``[B, M]``.
    """
    _check_array("x", x, 2)
    _check_array("w", w, 2)
    _check_same_dtype("x", x, w=w)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w: input features {w.shape[1]} differ from x features {x.shape[1]}")
    if bias is not None:
        _check_array("bias", bias, 1)
        _check_same_dtype("x", x, bias=bias)
        _check_shape("bias", bias, (w.shape[0],), "one per output feature of w")
    with torch.no_grad():
        y = F.linear(_t(x), _t(w), None if bias is None else _t(bias))
    return _np(y)


def linear_bp(dy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fully connected input gradient ``dx = dy @ w``: ``dy [B, M]``, ``w [M, N]`` -> ``[B, N]``."""
    _check_array("dy", dy, 2)
    _check_array("w", w, 2)
    _check_same_dtype("dy", dy, w=w)
    if w.shape[0] != dy.shape[1]:
        raise ValueError(f"w: output features {w.shape[0]} differ from dy features {dy.shape[1]}")
    with torch.enable_grad():
        xt = _zeros((dy.shape[0], w.shape[1]), dy.dtype)
        F.linear(xt, _t(w)).backward(_t(dy))
    return _grad(xt)


def linear_wu(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Fully connected weight gradient ``dw = dy.T @ x``: ``x [B, N]``, ``dy [B, M]`` -> ``[M, N]``.

    The bias gradient is ``dy.sum(0)``.
    """
    _check_array("x", x, 2)
    _check_array("dy", dy, 2)
    _check_same_dtype("x", x, dy=dy)
    if dy.shape[0] != x.shape[0]:
        raise ValueError(f"dy: batch {dy.shape[0]} differs from x batch {x.shape[0]}")
    with torch.enable_grad():
        wt = _zeros((dy.shape[1], x.shape[1]), x.dtype)
        F.linear(_t(x), wt).backward(_t(dy))
    return _grad(wt)


# --------------------------------------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------------------------------------


def relu_fp(x: np.ndarray) -> np.ndarray:
    """ReLU forward ``y = max(x, 0)``, any rank >= 1.

    Negative values become ``+0.0``; torch keeps a ``-0.0`` input as ``-0.0`` (it is not below zero).
    """
    _check_array("x", x, tuple(range(1, 9)))
    with torch.no_grad():
        y = F.relu(_t(x))
    return _np(y)


def relu_bp(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ReLU backward from the stored forward *output*: ``dx = dy where y > 0 else 0``.

    Differentiating ``relu`` at ``y`` (itself a ReLU output, so ``y >= 0``) gives exactly this mask;
    masked positions (``y == 0``, either sign) get ``+0.0``.
    """
    _check_array("dy", dy, tuple(range(1, 9)))
    _check_array("y", y, tuple(range(1, 9)))
    _check_same_dtype("dy", dy, y=y)
    _check_shape("y", y, dy.shape, "same as dy")
    with torch.enable_grad():
        yt = _t(y, requires_grad=True)
        F.relu(yt).backward(_t(dy))
    return _grad(yt)


# --------------------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------------------


def _pool_args(name: str, x_shape: tuple[int, ...], k: object, s: object) -> tuple[int, int, int, int]:
    """Validate a k x k / stride s pooling window (no padding, floor mode); return ``(k, s, Ho, Wo)``."""
    kk = _pos_int("k", k)
    ss = _pos_int("s", s)
    if x_shape[2] < kk or x_shape[3] < kk:
        raise ValueError(f"k: window {kk} is larger than the {name} plane {x_shape[2]}x{x_shape[3]}")
    return kk, ss, (x_shape[2] - kk) // ss + 1, (x_shape[3] - kk) // ss + 1


def maxpool_fp(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling forward, ``k x k`` window, stride ``s``, no padding, floor mode.

    Returns:
        ``(y, idx)``: ``y [B, C, Ho, Wo]`` and ``idx`` (int64, same shape), the flat index ``h * W + w`` of
        the chosen element in its ``H x W`` input plane (torch's ``return_indices`` convention). On ties
        torch's CPU kernel keeps the first maximum in row-major window order.
    """
    _check_array("x", x, 4)
    kk, ss, _, _ = _pool_args("x", x.shape, k, s)
    with torch.no_grad():
        y, idx = F.max_pool2d(_t(x), kk, ss, return_indices=True)
    return _np(y), idx.numpy().astype(np.int64, copy=True)


def maxpool_bp(dy: np.ndarray, idx: np.ndarray, x_shape: Sequence[int], k: int, s: int) -> np.ndarray:
    """Max pooling backward: each ``dy`` element is added to the input position ``idx`` selected.

    With overlapping windows (``s < k``) one input position can receive several contributions; they add.

    Args:
        dy: output gradient ``[B, C, Ho, Wo]``.
        idx: indices from :func:`maxpool_fp` (integer, same shape as ``dy``, each inside its own window).
        x_shape: ``(B, C, H, W)`` of the forward input.
        k, s: window and stride of the forward pass.
    """
    _check_array("dy", dy, 4)
    xs = _shape("x_shape", x_shape, 4)
    kk, ss, ho, wo = _pool_args("x_shape", xs, k, s)
    _check_shape("dy", dy, (xs[0], xs[1], ho, wo), "pooled x_shape")
    if not isinstance(idx, np.ndarray) or not np.issubdtype(idx.dtype, np.integer):
        got = getattr(idx, "dtype", type(idx).__name__)
        raise ValueError(f"idx: expected an integer numpy.ndarray, got {got}")
    _check_shape("idx", idx, dy.shape, "same as dy")
    row, col = np.divmod(idx.astype(np.int64), xs[3])
    r0 = (np.arange(ho) * ss)[:, None]
    c0 = (np.arange(wo) * ss)[None, :]
    inside = (idx >= 0) & (row >= r0) & (row < r0 + kk) & (col >= c0) & (col < c0 + kk)
    if not np.all(inside):
        raise ValueError("idx: some index lies outside its pooling window")
    with torch.enable_grad():
        xt = _zeros(xs, dy.dtype)
        flat = xt.reshape(xs[0], xs[1], xs[2] * xs[3])
        picked = torch.gather(flat, 2, torch.from_numpy(idx.astype(np.int64).reshape(xs[0], xs[1], -1)))
        picked.reshape(dy.shape).backward(_t(dy))  # gather's backward is a scatter-add
    return _grad(xt)


def avgpool_fp(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Average pooling forward, ``k x k`` window, stride ``s``, no padding, floor mode (divisor ``k*k``)."""
    _check_array("x", x, 4)
    kk, ss, _, _ = _pool_args("x", x.shape, k, s)
    with torch.no_grad():
        y = F.avg_pool2d(_t(x), kk, ss)
    return _np(y)


def avgpool_bp(dy: np.ndarray, x_shape: Sequence[int], k: int, s: int) -> np.ndarray:
    """Average pooling backward: every input of a window receives ``dy / (k*k)``; overlaps add."""
    _check_array("dy", dy, 4)
    xs = _shape("x_shape", x_shape, 4)
    kk, ss, ho, wo = _pool_args("x_shape", xs, k, s)
    _check_shape("dy", dy, (xs[0], xs[1], ho, wo), "pooled x_shape")
    with torch.enable_grad():
        xt = _zeros(xs, dy.dtype)
        F.avg_pool2d(xt, kk, ss).backward(_t(dy))
    return _grad(xt)


def global_avgpool_fp(x: np.ndarray) -> np.ndarray:
    """Global average pooling ``[B, C, H, W] -> [B, C, 1, 1]`` (mean over the plane)."""
    _check_array("x", x, 4)
    with torch.no_grad():
        y = _t(x).mean(dim=(2, 3), keepdim=True)
    return _np(y)


def global_avgpool_bp(dy: np.ndarray, x_shape: Sequence[int]) -> np.ndarray:
    """Global average pooling backward: ``dx[b,c,h,w] = dy[b,c,0,0] / (H*W)``."""
    _check_array("dy", dy, 4)
    xs = _shape("x_shape", x_shape, 4)
    _check_shape("dy", dy, (xs[0], xs[1], 1, 1), "global pooling of x_shape")
    with torch.enable_grad():
        xt = _zeros(xs, dy.dtype)
        xt.mean(dim=(2, 3), keepdim=True).backward(_t(dy))
    return _grad(xt)


# --------------------------------------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------------------------------------


class BatchNormSaved(NamedTuple):
    """Per-channel statistics a batch-norm forward used (what a backward pass or a debugger wants).

    In training mode ``mean`` / ``var`` are the batch mean and *biased* batch variance; in inference mode
    they are the running statistics. ``invstd = 1 / sqrt(var + eps)``. All have shape ``[C]``.
    """

    mean: np.ndarray
    var: np.ndarray
    invstd: np.ndarray


def _bn_reduce_dims(x: np.ndarray) -> tuple[int, ...]:
    return (0,) if x.ndim == 2 else (0, 2, 3)


def batchnorm_fp(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float = 0.1,
    eps: float = 1e-5,
    training: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchNormSaved]:
    """Batch normalization forward with ``torch.nn.functional.batch_norm`` semantics.

    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` per channel (axis 1 of ``x``, which is
    ``[B, C, H, W]`` or ``[B, C]``). In training mode ``mean`` and ``var`` are the batch statistics over
    ``n = B*H*W`` values (biased variance) and the running statistics are updated as
    ``rm' = (1 - momentum) * rm + momentum * mean`` and
    ``rv' = (1 - momentum) * rv + momentum * var * n / (n - 1)`` (unbiased variance). In inference mode the
    running statistics normalize and are returned unchanged (as copies).

    Returns:
        ``(y, new_running_mean, new_running_var, saved)``; the caller's running arrays are not modified.
    """
    _check_array("x", x, (2, 4))
    ch = x.shape[1]
    per_channel = {"gamma": gamma, "beta": beta, "running_mean": running_mean, "running_var": running_var}
    for name, a in per_channel.items():
        _check_array(name, a, 1)
        _check_shape(name, a, (ch,), "one per channel of x")
    _check_same_dtype("x", x, **per_channel)
    mom = _real("momentum", momentum, minimum=0.0)
    if mom > 1.0:
        raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}")
    e = _real("eps", eps, positive=True)
    if not isinstance(training, bool | np.bool_):
        raise ValueError(f"training: expected a bool, got {training!r}")
    n = x.size // ch
    if training and n < 2:
        raise ValueError(f"x: training needs more than one value per channel, got shape {x.shape}")
    if not training and np.any(running_var + e <= 0):
        raise ValueError("running_var: running_var + eps must be positive in inference mode")
    rm, rv = _t(running_mean), _t(running_var)
    with torch.no_grad():
        xt = _t(x)
        y = F.batch_norm(xt, rm, rv, _t(gamma), _t(beta), training=bool(training), momentum=mom, eps=e)
        if training:
            var, mean = torch.var_mean(xt, dim=_bn_reduce_dims(x), correction=0)
        else:
            var, mean = _t(running_var), _t(running_mean)
        invstd = torch.rsqrt(var + e)
    return _np(y), _np(rm), _np(rv), BatchNormSaved(_np(mean), _np(var), _np(invstd))


def batchnorm_bp(
    dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalization backward, training mode (batch statistics recomputed from ``x``).

    With ``xhat = (x - mean) * invstd`` over ``n`` values per channel:
    ``dbeta = sum(dy)``, ``dgamma = sum(dy * xhat)`` and
    ``dx = gamma * invstd / n * (n * dy - dbeta - xhat * dgamma)`` (through the batch statistics).

    Args:
        dy: output gradient, same shape as ``x``.
        x: forward input ``[B, C, H, W]`` or ``[B, C]``.
        gamma: scale ``[C]``.
        eps: as in the forward pass.

    Returns:
        ``(dx, dgamma, dbeta)``.
    """
    _check_array("dy", dy, (2, 4))
    _check_array("x", x, (2, 4))
    _check_array("gamma", gamma, 1)
    _check_same_dtype("x", x, dy=dy, gamma=gamma)
    _check_shape("dy", dy, x.shape, "same as x")
    _check_shape("gamma", gamma, (x.shape[1],), "one per channel of x")
    e = _real("eps", eps, positive=True)
    if x.size // x.shape[1] < 2:
        raise ValueError(f"x: training needs more than one value per channel, got shape {x.shape}")
    with torch.enable_grad():
        xt = _t(x, requires_grad=True)
        gt = _t(gamma, requires_grad=True)
        bt = _zeros((x.shape[1],), x.dtype)
        F.batch_norm(xt, None, None, gt, bt, training=True, eps=e).backward(_t(dy))
    return _grad(xt), _grad(gt), _grad(bt)


# --------------------------------------------------------------------------------------------------------
# Loss and optimizer
# --------------------------------------------------------------------------------------------------------


def softmax_ce(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy, mean over the batch, and its gradient.

    ``loss = mean_b(logsumexp(z_b) - z_b[labels_b])``; ``dlogits = (softmax(z) - onehot(labels)) / B``.

    Args:
        logits: ``[B, C]``.
        labels: integer class indices ``[B]`` in ``[0, C)``.

    Returns:
        ``(loss, dlogits)``: the loss as a Python float, ``dlogits`` with the dtype of ``logits``.
    """
    _check_array("logits", logits, 2)
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        got = getattr(labels, "dtype", type(labels).__name__)
        raise ValueError(f"labels: expected an integer numpy.ndarray, got {got}")
    _check_shape("labels", labels, (logits.shape[0],), "one per row of logits")
    if np.any(labels < 0) or np.any(labels >= logits.shape[1]):
        raise ValueError(f"labels: every label must be in [0, {logits.shape[1]})")
    with torch.enable_grad():
        zt = _t(logits, requires_grad=True)
        loss = F.cross_entropy(zt, torch.from_numpy(labels.astype(np.int64)), reduction="mean")
        loss.backward()
    return float(loss.item()), _grad(zt)


def sgd_step(
    w: np.ndarray,
    grad: np.ndarray,
    momentum_buf: np.ndarray | None,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One step of ``torch.optim.SGD`` (run for real on a cloned parameter).

    ``g = grad + weight_decay * w``; with momentum ``mu != 0``: ``buf = g`` on the first step
    (``momentum_buf is None``), else ``buf = mu * buf + (1 - dampening) * g``; then ``g = g + mu * buf``
    (Nesterov) or ``g = buf``. Finally ``w = w - lr * g``.

    Args:
        w: parameter (any shape).
        grad: its gradient, same shape.
        momentum_buf: the buffer returned by the previous step, or ``None`` on the first step. Ignored when
            ``momentum == 0`` (as torch does).
        lr: learning rate ``>= 0``.
        momentum, weight_decay, dampening: as in ``torch.optim.SGD``; Nesterov needs ``momentum > 0`` and
            ``dampening == 0``.

    Returns:
        ``(w_new, buf_new)``; ``buf_new`` is ``None`` when ``momentum == 0``.
    """
    ranks = tuple(range(1, 9))
    _check_array("w", w, ranks)
    _check_array("grad", grad, ranks)
    _check_same_dtype("w", w, grad=grad)
    _check_shape("grad", grad, w.shape, "same as w")
    if momentum_buf is not None:
        _check_array("momentum_buf", momentum_buf, ranks)
        _check_same_dtype("w", w, momentum_buf=momentum_buf)
        _check_shape("momentum_buf", momentum_buf, w.shape, "same as w")
    lr_f = _real("lr", lr, minimum=0.0)
    mom = _real("momentum", momentum, minimum=0.0)
    wd = _real("weight_decay", weight_decay, minimum=0.0)
    damp = _real("dampening", dampening)
    if not isinstance(nesterov, bool | np.bool_):
        raise ValueError(f"nesterov: expected a bool, got {nesterov!r}")
    if nesterov and (mom <= 0.0 or damp != 0.0):
        raise ValueError("nesterov: Nesterov momentum needs momentum > 0 and dampening == 0")
    param = torch.nn.Parameter(_t(w))
    param.grad = _t(grad)
    opt = torch.optim.SGD(
        [param],
        lr=lr_f,
        momentum=mom,
        dampening=damp,
        weight_decay=wd,
        nesterov=bool(nesterov),
        foreach=False,  # the plain per-tensor loop: the reference formula, no multi-tensor kernels
    )
    if mom != 0.0 and momentum_buf is not None:
        opt.state[param]["momentum_buffer"] = _t(momentum_buf)
    opt.step()
    buf = opt.state[param].get("momentum_buffer") if mom != 0.0 else None
    return _np(param), None if buf is None else _np(buf)
