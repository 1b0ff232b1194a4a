"""How far the bit-exact model may be from exact arithmetic: the stated tolerance.

Every result of the engine is a sum of products computed with one rounding per
operation. For a result reached through at most ``n`` rounded operations on its longest
dependency path, the classic bound (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., section 3.1 and Lemma 3.1) is::

    |computed - exact| <= gamma_n * sum_i |a_i * b_i|  (+ |bias|),  gamma_n = n u / (1 - n u)

with ``u = 2**-24`` the unit roundoff of binary32. ``sum |a_i b_i|`` is the same
convolution on absolute values, computed in float64. This holds while nothing
overflows or underflows into the subnormal range (subnormal results add at most
``n * 2**-149`` absolute error per result, included below).

The path lengths ``n`` follow the order contract in :mod:`eftrain.golden.engine`:

* FP: 1 multiply + ceil(log2 Tn) tree levels + ceil(N/Tn) * K * K accumulator adds (+ 1 for bias).
* BP: 1 multiply + ceil(log2 Tn) tree levels + ceil(M/Tn) * K * K accumulator adds.
* WU: 1 multiply + ceil(T/L) partial-sum adds + ceil(log2 L) tree levels, T = B * OH * OW.
"""

from __future__ import annotations

import math

import numpy as np

from eftrain.config import HwConfig

__all__ = ["U", "bits_equal", "bp_ops", "error_bound", "fp_ops", "gamma", "same_bits", "wu_ops"]

U = 2.0**-24  # binary32 unit roundoff
_SUBNORMAL_STEP = 2.0**-149  # spacing of binary32 subnormals


def gamma(n: int) -> float:
    """gamma_n = n u / (1 - n u)."""
    if n * U >= 1:
        raise ValueError(f"path length {n} too long for a meaningful float32 bound")
    return n * U / (1 - n * U)


def _log2_ceil(v: int) -> int:
    return math.ceil(math.log2(v)) if v > 1 else 0


def fp_ops(cfg: HwConfig, n_channels: int, k: int, bias: bool = False) -> int:
    """Longest chain of rounded operations to one FP output."""
    return 1 + _log2_ceil(cfg.tn) + math.ceil(n_channels / cfg.tn) * k * k + (1 if bias else 0)


def bp_ops(cfg: HwConfig, m_channels: int, k: int) -> int:
    """Longest chain of rounded operations to one BP output."""
    return 1 + _log2_ceil(cfg.tn) + math.ceil(m_channels / cfg.tn) * k * k


def wu_ops(cfg: HwConfig, stream_len: int) -> int:
    """Longest chain of rounded operations to one WU output."""
    return 1 + math.ceil(stream_len / cfg.acc_interleave) + _log2_ceil(cfg.acc_interleave)


def error_bound(abs_sum: np.ndarray, n_ops: int) -> np.ndarray:
    """Largest allowed |golden - exact| for results whose terms' absolute sum is ``abs_sum``."""
    return gamma(n_ops) * np.asarray(abs_sum, dtype=np.float64) + n_ops * _SUBNORMAL_STEP


def same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise "bit-exact" per SPEC section 4: equal bits, and any NaN equals any NaN.

    Shapes must agree (ValueError otherwise); signed zeros are different values.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """True when every element is bit-exact (see :func:`same_bits`); False also for other shapes."""
    if np.shape(a) != np.shape(b):
        return False
    return bool(same_bits(a, b).all())
