"""Operand vectors, the NumPy oracle and the failure report for the fp32_div / fp32_sqrt regression.

The companion of :mod:`fp32_vectors` (whose ``Vectors`` container, hex files, field helpers and
scoreboard :func:`~fp32_vectors.compare` are reused as they are): vectorized NumPy on ``uint32``
bit patterns, the expected results from ``np.divide`` / ``np.sqrt`` on ``float32`` arrays (both
correctly rounded binary32 operations with gradual underflow on the CPU).

Every vector is an operand pair ``(a, b)``: fp32_div computes ``a / b``, fp32_sqrt ``sqrt(a)``
and ignores ``b``. Classes (one ``uint8`` label per pair, see :data:`CLASSES`) aim at what a
divider or a square root gets wrong:

* special operands: zeros, infinities, quiet and signalling NaNs, negative square-root operands;
* subnormal operands (normalization) and subnormal quotients (denormalization, gradual
  underflow), exact ties at subnormal precision (a quotient's exact value can be a midpoint only
  there), quotients rounding up into the smallest normal, near zero (half the smallest
  subnormal) and near overflow (rounding to the largest finite number or to Inf);
* exact quotients and roots (the remainder, i.e. the sticky bit, is zero) and results within a
  few 2^-48 of a midpoint (the sticky bit decides), quotients near 1 (the first quotient bit);
* uniformly random bit patterns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tb.fp32.fp32_vectors import (
    CANONICAL_NAN,
    Mismatch,
    Vectors,
    _any_value,
    _fracs,
    _maybe_swap,
    _nans,
    _normals,
    _odd_with_bits,
    _pack,
    _signs,
    _subnormals,
)

__all__ = [
    "CLASSES",
    "DIRECTED",
    "OPS",
    "directed_vectors",
    "expected",
    "format_report",
    "generate",
]

OPS: tuple[str, ...] = ("div", "sqrt")

CLASSES: tuple[str, ...] = (
    "directed",
    "normal",
    "subnormal",
    "zero",
    "inf",
    "nan",
    "negative",
    "exact",
    "near_tie",
    "sub_result",
    "sub_tie",
    "min_normal",
    "near_zero",
    "near_overflow",
    "near_one",
    "random_bits",
)

# Share of the random budget per class and op (the directed list comes on top).
_WEIGHTS: dict[str, dict[str, float]] = {
    "div": {
        "normal": 0.14,
        "subnormal": 0.10,
        "zero": 0.03,
        "inf": 0.03,
        "nan": 0.03,
        "exact": 0.08,
        "near_tie": 0.12,
        "sub_result": 0.08,
        "sub_tie": 0.08,
        "min_normal": 0.06,
        "near_zero": 0.05,
        "near_overflow": 0.06,
        "near_one": 0.04,
        "random_bits": 0.10,
    },
    "sqrt": {
        "normal": 0.20,
        "subnormal": 0.15,
        "zero": 0.02,
        "inf": 0.02,
        "nan": 0.03,
        "negative": 0.05,
        "exact": 0.12,
        "near_tie": 0.20,
        "near_one": 0.08,
        "random_bits": 0.13,
    },
}

_U32 = np.uint32
_F32_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------------------------------------
# Oracle
# ------------------------------------------------------------------------------------------------

def expected(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit patterns of ``a / b`` (``op="div"``) or ``sqrt(a)`` (``"sqrt"``, ``b`` unused),
    computed by NumPy in float32 (uint32 array)."""
    fa = np.ascontiguousarray(a, dtype=_U32).view(np.float32)
    fb = np.ascontiguousarray(b, dtype=_U32).view(np.float32)
    with np.errstate(all="ignore"):
        if op == "div":
            y = np.divide(fa, fb, dtype=np.float32)
        elif op == "sqrt":
            y = np.sqrt(fa, dtype=np.float32)
        else:
            raise ValueError(f"op must be 'div' or 'sqrt', got {op!r}")
    return y.view(_U32)


# ------------------------------------------------------------------------------------------------
# Construction helpers
# ------------------------------------------------------------------------------------------------

def _to_f32_bits(x: np.ndarray) -> np.ndarray:
    """float64 values rounded to float32 (RNE, gradual underflow), as bit patterns."""
    with np.errstate(all="ignore"):
        return x.astype(np.float32).view(_U32)


def _exact_f32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 values as float32 bit patterns, and which of them are finite, nonzero and exact."""
    bits = _to_f32_bits(x)
    back = bits.view(np.float32).astype(np.float64)
    ok = np.isfinite(back) & (back == x) & (x != 0)
    return bits, ok


def _nudge(rng: np.random.Generator, bits: np.ndarray, k: int) -> np.ndarray:
    """Move positive finite nonzero patterns by -k..k ulps (staying finite, nonzero, same sign)."""
    mag = (bits & 0x7FFFFFFF).astype(np.int64) + rng.integers(-k, k + 1, len(bits))
    mag = np.clip(mag, 1, 0x7F7FFFFF)
    return ((bits.astype(np.int64) & 0x80000000) | mag).astype(_U32)


def _collect(rng: np.random.Generator, n: int,
             draw: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray, np.ndarray]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Call ``draw(rng, m) -> (a, b, ok)`` until ``n`` valid pairs exist; return the first n."""
    out_a: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    have = 0
    while have < n:
        a, b, ok = draw(rng, 2 * (n - have) + 64)
        out_a.append(a[ok])
        out_b.append(b[ok])
        have += int(np.count_nonzero(ok))
    return np.concatenate(out_a)[:n].astype(_U32), np.concatenate(out_b)[:n].astype(_U32)


def _with_signs(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(a)
    sa = (_signs(rng, n).astype(np.uint64) << 31).astype(_U32)
    sb = (_signs(rng, n).astype(np.uint64) << 31).astype(_U32)
    return (a & 0x7FFFFFFF) | sa, (b & 0x7FFFFFFF) | sb


def _positive(x: np.ndarray) -> np.ndarray:
    return (x & 0x7FFFFFFF).astype(_U32)


# ------------------------------------------------------------------------------------------------
# Division classes: (rng, n) -> (a, b)
# ------------------------------------------------------------------------------------------------

def _div_normal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # normal operands whose quotient stays in the normal range: ea - eb + 127 in [1, 254]
    ea = rng.integers(1, 255, n)
    lo = np.maximum(1, ea - 127)
    hi = np.minimum(254, ea + 126)
    eb = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    return _pack(_signs(rng, n), ea, _fracs(rng, n)), _pack(_signs(rng, n), eb, _fracs(rng, n))


def _div_subnormal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    sub_a, sub_b = _subnormals(rng, n), _subnormals(rng, n)
    pick = rng.integers(0, 5, n)
    a = np.where(pick <= 1, sub_a, _normals(rng, n))
    a = np.where(pick == 3, _normals(rng, n, 1, 40), a)
    b = np.where(pick == 0, sub_b, np.where(pick == 1, _normals(rng, n, 1, 254), sub_b))
    b = np.where(pick == 4, _normals(rng, n, 100, 140), b)
    a = np.where(pick == 4, sub_a, a)
    return a.astype(_U32), b.astype(_U32)


def _div_special(kind: str) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    def gen(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        if kind == "nan":
            s = _nans(rng, n)
        else:
            exp = np.zeros(n, np.int64) if kind == "zero" else np.full(n, 255)
            s = _pack(_signs(rng, n), exp, np.zeros(n, np.int64))
        return _maybe_swap(rng, s, _any_value(rng, n))
    return gen


def _div_exact(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a = u v 2^xa, b = v 2^xb with u, v odd and u v < 2^24: the quotient u 2^(xa - xb) is exact
    # (when representable: most land in the normal range, some in the subnormal one).
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ku = rng.integers(1, 13, m)
        kv = rng.integers(1, 25 - ku)
        u = _odd_with_bits(rng, ku)
        v = _odd_with_bits(rng, kv)
        eb = rng.integers(-140, 128, m)                       # b's leading-bit exponent
        eq = np.where(rng.random(m) < 0.85, rng.integers(-126, 128, m), rng.integers(-149, -126, m))
        xb = eb - (kv - 1)
        xa = eq - (ku - 1) + xb
        a, ok_a = _exact_f32(np.ldexp((u * v).astype(np.float64), xa))
        b, ok_b = _exact_f32(np.ldexp(v.astype(np.float64), xb))
        return a, b, ok_a & ok_b
    return _with_signs(rng, *_collect(rng, n, draw))


def _div_near_tie(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a = float32(b * t) with t a midpoint between two floats (25 significant bits, odd): the
    # exact b * t has at most 49 bits (exact in float64) and a / b differs from t by at most
    # half an ulp of a, relative 2^-24: within ~2^-48 of the midpoint, the sticky bit decides.
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mid = _odd_with_bits(rng, np.full(m, 25))
        et = rng.integers(-126, 128, m)                       # quotient exponent
        t = np.ldexp(mid.astype(np.float64), et - 24)
        b = _normals(rng, m, 1, 254) & 0x7FFFFFFF
        bf = b.view(np.float32).astype(np.float64)
        a = _nudge(rng, _to_f32_bits(bf * t), 1)
        af = a.view(np.float32).astype(np.float64)
        ok = np.isfinite(af) & (np.abs(af) >= 2.0 ** -126) & (af != 0)
        return a, b, ok
    return _with_signs(rng, *_collect(rng, n, draw))


def _div_sub_result(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # normal operands with a subnormal (or just normal, or zero) quotient: e in [-26, 2]
    ea = rng.integers(1, 255, n)
    et = rng.integers(-26, 3, n)
    eb = np.clip(ea + 127 - et, 1, 254)
    return _pack(_signs(rng, n), ea, _fracs(rng, n)), _pack(_signs(rng, n), eb, _fracs(rng, n))


def _div_sub_tie(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # exact ties at subnormal precision: a / b = t 2^-150 with t odd (the midpoint between two
    # subnormals, or between the largest subnormal and the smallest normal for t = 2^24 - 1);
    # a = t v 2^(y - 150), b = v 2^y. A third are moved by an ulp of a (near ties).
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kt = np.where(rng.random(m) < 0.2, 24, rng.integers(1, 25, m))
        t = _odd_with_bits(rng, kt)
        t = np.where(rng.random(m) < 0.05, (1 << 24) - 1, t)
        kv = rng.integers(1, 25 - np.minimum(kt, 23))
        v = np.where(rng.random(m) < 0.3, 1, _odd_with_bits(rng, kv))
        y = rng.integers(1, 100, m)
        a, ok_a = _exact_f32(np.ldexp((t * v).astype(np.float64), y - 150))
        b, ok_b = _exact_f32(np.ldexp(v.astype(np.float64), y))
        a = np.where(rng.random(m) < 0.33, _nudge(rng, a, 1), a)
        return a, b, ok_a & ok_b
    return _with_signs(rng, *_collect(rng, n, draw))


def _div_near_value(rng: np.random.Generator, n: int, target: float, spread_ulps: int,
                    eb_lo: int, eb_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Quotients within about ``spread_ulps`` 2^-25-relative steps of ``target``:
    a = float32(b * target * (1 + k 2^-25)), b normal with exponent field in [eb_lo, eb_hi]."""
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = _normals(rng, m, eb_lo, eb_hi) & 0x7FFFFFFF
        k = rng.integers(-spread_ulps, spread_ulps + 1, m)
        t = target * (1.0 + k * 2.0 ** -25)
        bf = b.view(np.float32).astype(np.float64)
        a = _nudge(rng, _to_f32_bits(bf * t), 1)
        af = a.view(np.float32).astype(np.float64)
        return a, b, np.isfinite(af) & (af != 0)
    return _with_signs(rng, *_collect(rng, n, draw))


def _div_min_normal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # quotients around 2^-126: round to the largest subnormal, or up into the smallest normal
    return _div_near_value(rng, n, 2.0 ** -126, 48, 127, 254)


def _div_near_zero(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # quotients around 2^-150 (half the smallest subnormal) up to a few subnormal ulps
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = _normals(rng, m, 160, 254) & 0x7FFFFFFF
        t = 2.0 ** -150 * rng.uniform(0.25, 5.0, m)
        bf = b.view(np.float32).astype(np.float64)
        a = _nudge(rng, _to_f32_bits(bf * t), 2)
        af = a.view(np.float32).astype(np.float64)
        return a, b, np.isfinite(af) & (af != 0)
    return _with_signs(rng, *_collect(rng, n, draw))


def _div_near_overflow(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # half: quotients around the largest finite number (it, or Inf); half: by exponent, around
    # and beyond 2^128
    a1, b1 = _div_near_value(rng, n // 2, _F32_MAX, 48, 1, 126)
    m = n - n // 2
    ea = rng.integers(120, 255, m)
    et = rng.integers(252, 260, m)
    eb = np.clip(ea + 127 - et, 1, 254)
    a2 = _pack(_signs(rng, m), ea, _fracs(rng, m))
    b2 = _pack(_signs(rng, m), eb, _fracs(rng, m))
    return np.concatenate([a1, a2]), np.concatenate([b1, b2])


def _div_near_one(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a within a few ulps of b: the quotient's first bit (ma < mb or not) changes near 1
    b = np.where(rng.random(n) < 0.8, _normals(rng, n), _subnormals(rng, n))
    a = _nudge(rng, b, 3)
    a, b = _maybe_swap(rng, a, b)
    return _with_signs(rng, a, b)


def _random_bits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (rng.integers(0, 1 << 32, n, dtype=np.int64).astype(_U32),
            rng.integers(0, 1 << 32, n, dtype=np.int64).astype(_U32))


# ------------------------------------------------------------------------------------------------
# Square-root classes: (rng, n) -> (a, b); b is random (fp32_div sees it: extra coverage)
# ------------------------------------------------------------------------------------------------

def _sqrt_normal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return _positive(_normals(rng, n)), _any_value(rng, n)


def _sqrt_subnormal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return _positive(_subnormals(rng, n)), _any_value(rng, n)


def _sqrt_special(kind: str) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    def gen(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        if kind == "nan":
            a = _nans(rng, n)
        else:
            exp = np.zeros(n, np.int64) if kind == "zero" else np.full(n, 255)
            a = _pack(_signs(rng, n), exp, np.zeros(n, np.int64))
        return a, _any_value(rng, n)
    return gen


def _sqrt_negative(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    pick = rng.integers(0, 4, n)
    a = np.where(pick <= 1, _normals(rng, n), _subnormals(rng, n))
    a = np.where(pick == 3, np.full(n, 0x7F800000, _U32), a)
    return (a | 0x80000000).astype(_U32), _any_value(rng, n)


def _sqrt_exact(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a = (u 2^k)^2 with u odd, at most 12 bits: an exact root (subnormal squares included)
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ku = rng.integers(1, 13, m)
        u = _odd_with_bits(rng, ku)
        k = rng.integers(-75, 64, m) - (ku - 1)
        a, ok = _exact_f32(np.ldexp((u * u).astype(np.float64), 2 * k))
        return a, _any_value(rng, m), ok
    return _collect(rng, n, draw)


def _sqrt_near_tie(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # a = float32(t^2) (+- a few ulps) with t a midpoint (25 significant bits, odd); t^2 has 50
    # bits (exact in float64), and sqrt(a) lies within ~2^-48 relative of t. An exact tie is
    # impossible for a square root, so the sticky bit always decides.
    def draw(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mid = _odd_with_bits(rng, np.full(m, 25)).astype(np.float64)
        et = rng.integers(-75, 64, m)                          # root exponent
        a = _nudge(rng, _to_f32_bits(np.ldexp(mid * mid, 2 * (et - 24))), 2)
        af = a.view(np.float32).astype(np.float64)
        return a, _any_value(rng, m), np.isfinite(af) & (af > 0)
    return _collect(rng, n, draw)


def _sqrt_near_one(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # powers of two (odd and even exponents, subnormal ones too) moved by a few ulps
    e = rng.integers(-149, 128, n)
    p = _to_f32_bits(np.ldexp(np.ones(n), e))
    return _positive(_nudge(rng, p, 4)), _any_value(rng, n)


def _sqrt_random_bits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _random_bits(rng, n)
    a = np.where(rng.random(n) < 0.75, _positive(a), a)       # mostly positive: real roots
    return a.astype(_U32), b


_GENERATORS: dict[str, dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]]] = {
    "div": {
        "normal": _div_normal,
        "subnormal": _div_subnormal,
        "zero": _div_special("zero"),
        "inf": _div_special("inf"),
        "nan": _div_special("nan"),
        "exact": _div_exact,
        "near_tie": _div_near_tie,
        "sub_result": _div_sub_result,
        "sub_tie": _div_sub_tie,
        "min_normal": _div_min_normal,
        "near_zero": _div_near_zero,
        "near_overflow": _div_near_overflow,
        "near_one": _div_near_one,
        "random_bits": _random_bits,
    },
    "sqrt": {
        "normal": _sqrt_normal,
        "subnormal": _sqrt_subnormal,
        "zero": _sqrt_special("zero"),
        "inf": _sqrt_special("inf"),
        "nan": _sqrt_special("nan"),
        "negative": _sqrt_negative,
        "exact": _sqrt_exact,
        "near_tie": _sqrt_near_tie,
        "near_one": _sqrt_near_one,
        "random_bits": _sqrt_random_bits,
    },
}


# ------------------------------------------------------------------------------------------------
# Directed corner cases: (a, b, expected, description) written out by hand. NaN = CANONICAL_NAN.
# For sqrt, b is 0.
# ------------------------------------------------------------------------------------------------

_NAN = CANONICAL_NAN

DIRECTED: dict[str, list[tuple[int, int, int, str]]] = {
    "div": [
        (0x00000000, 0x00000000, _NAN, "0 / 0 = NaN"),
        (0x80000000, 0x00000000, _NAN, "-0 / 0 = NaN"),
        (0x7F800000, 0x7F800000, _NAN, "Inf / Inf = NaN"),
        (0xFF800000, 0x7F800000, _NAN, "-Inf / Inf = NaN"),
        (0x7FC00000, 0x3F800000, _NAN, "qNaN / 1 = NaN"),
        (0x3F800000, 0x7F800001, _NAN, "1 / sNaN = NaN"),
        (0xFFFFFFFF, 0x00000000, _NAN, "NaN / 0 = NaN"),
        (0x00000000, 0x7FC00000, _NAN, "0 / NaN = NaN"),
        (0x7F800000, 0xFFC00001, _NAN, "Inf / NaN = NaN"),
        (0x3F800000, 0x00000000, 0x7F800000, "1 / +0 = +Inf"),
        (0x3F800000, 0x80000000, 0xFF800000, "1 / -0 = -Inf"),
        (0xBF800000, 0x00000000, 0xFF800000, "-1 / +0 = -Inf"),
        (0x00000001, 0x80000000, 0xFF800000, "min sub / -0 = -Inf"),
        (0x7F800000, 0x00000000, 0x7F800000, "Inf / 0 = Inf"),
        (0x7F800000, 0xBF800000, 0xFF800000, "Inf / -1 = -Inf"),
        (0xFF800000, 0x00000001, 0xFF800000, "-Inf / min sub = -Inf"),
        (0xFF800000, 0xFF7FFFFF, 0x7F800000, "-Inf / -max = Inf"),
        (0x3F800000, 0x7F800000, 0x00000000, "1 / Inf = +0"),
        (0x3F800000, 0xFF800000, 0x80000000, "1 / -Inf = -0"),
        (0x80000001, 0x7F800000, 0x80000000, "-min sub / Inf = -0"),
        (0x7F7FFFFF, 0xFF800000, 0x80000000, "max / -Inf = -0"),
        (0x00000000, 0x3F800000, 0x00000000, "+0 / 1 = +0"),
        (0x80000000, 0x3F800000, 0x80000000, "-0 / 1 = -0"),
        (0x00000000, 0xBF800000, 0x80000000, "+0 / -1 = -0"),
        (0x80000000, 0x80000001, 0x00000000, "-0 / -min sub = +0"),
        (0x00000000, 0x7F800000, 0x00000000, "0 / Inf = +0"),
        (0x3F800000, 0x3F800000, 0x3F800000, "1 / 1 = 1"),
        (0xC0C00000, 0x40400000, 0xC0000000, "-6 / 3 = -2 exact"),
        (0x3F800000, 0x40400000, 0x3EAAAAAB, "1 / 3 rounds up"),
        (0x40000000, 0x40400000, 0x3F2AAAAB, "2 / 3 rounds up"),
        (0x3F800000, 0x3F800001, 0x3F7FFFFE, "1 / (1 + ulp) = 1 - 2^-23 (sticky only)"),
        (0x3F800000, 0x3F7FFFFF, 0x3F800001, "1 / (1 - 2^-24): just above a tie, up"),
        (0x3F7FFFFF, 0x3F800000, 0x3F7FFFFF, "(1 - 2^-24) / 1"),
        (0x00800000, 0x40000000, 0x00400000, "min normal / 2 = subnormal, exact"),
        (0x00000001, 0x40000000, 0x00000000, "min sub / 2 = 2^-150: tie to even 0"),
        (0x80000001, 0x40000000, 0x80000000, "-min sub / 2: tie to even -0"),
        (0x00000003, 0x40000000, 0x00000002, "3 min sub / 2: tie to even 2"),
        (0x00000001, 0x3FC00000, 0x00000001, "min sub / 1.5 = 2/3 ulp: up"),
        (0x00000001, 0x40400000, 0x00000000, "min sub / 3 = 1/3 ulp: 0"),
        (0x00000001, 0x3F000000, 0x00000002, "min sub / 0.5 = 2 min sub"),
        (0x007FFFFF, 0x3F000000, 0x00FFFFFE, "max sub / 0.5 = normal"),
        (0x00FFFFFF, 0x40000000, 0x00800000, "tie rounds up from max sub into min normal"),
        (0x3F7FFFFF, 0x7E800000, 0x00800000, "(1 - 2^-24) / 2^126: tie up into min normal"),
        (0x3F7FFFFF, 0x7E800001, 0x007FFFFF, "just above a tie: max subnormal"),
        (0x00FFFFFE, 0x40000000, 0x007FFFFF, "max subnormal, exact"),
        (0x00800001, 0x40000000, 0x00400000, "tie to even at the subnormal boundary"),
        (0x00800003, 0x40000000, 0x00400002, "tie to even (up) at the subnormal boundary"),
        (0x3F800000, 0x7E800000, 0x00800000, "1 / 2^126 = min normal"),
        (0x3F800000, 0x7F000000, 0x00400000, "1 / 2^127 = subnormal"),
        (0x3F800000, 0x7F7FFFFF, 0x00200000, "1 / max: subnormal, rounded down"),
        (0x00000001, 0x7F7FFFFF, 0x00000000, "min sub / max = 0"),
        (0x80000001, 0x3F800000, 0x80000001, "-min sub / 1"),
        (0x00000001, 0x00000001, 0x3F800000, "min sub / min sub = 1"),
        (0x007FFFFF, 0x00000001, 0x4AFFFFFE, "max sub / min sub = 2^23 - 1"),
        (0x00000001, 0x007FFFFF, 0x34000001, "min sub / max sub"),
        (0x00800000, 0x00000001, 0x4B000000, "min normal / min sub = 2^23"),
        (0x34000000, 0x00000001, 0x7E800000, "2^-23 / min sub = 2^126"),
        (0x3F800000, 0x00000001, 0x7F800000, "1 / min sub = 2^149 overflows"),
        (0x7F7FFFFF, 0x3F000000, 0x7F800000, "max / 0.5 overflows"),
        (0xFF7FFFFF, 0x3F000000, 0xFF800000, "-max / 0.5 = -Inf"),
        (0x7F7FFFFF, 0x3F800000, 0x7F7FFFFF, "max / 1 = max"),
        (0x7F7FFFFF, 0x3F7FFFFF, 0x7F800000, "max / (1 - 2^-24) rounds to Inf"),
        (0x7F7FFFFE, 0x3F7FFFFF, 0x7F7FFFFF, "(max - ulp) / (1 - 2^-24) = max"),
        (0x7F7FFFFF, 0x00800000, 0x7F800000, "max / min normal overflows"),
        (0x00800000, 0x7F7FFFFF, 0x00000000, "min normal / max = 2^-254: 0"),
    ],
    "sqrt": [
        (0x00000000, 0, 0x00000000, "sqrt(+0) = +0"),
        (0x80000000, 0, 0x80000000, "sqrt(-0) = -0"),
        (0x7F800000, 0, 0x7F800000, "sqrt(+Inf) = +Inf"),
        (0xFF800000, 0, _NAN, "sqrt(-Inf) = NaN"),
        (0xBF800000, 0, _NAN, "sqrt(-1) = NaN"),
        (0x80000001, 0, _NAN, "sqrt(-min sub) = NaN"),
        (0x807FFFFF, 0, _NAN, "sqrt(-max sub) = NaN"),
        (0xFF7FFFFF, 0, _NAN, "sqrt(-max) = NaN"),
        (0x7FC00000, 0, _NAN, "sqrt(qNaN) = NaN"),
        (0x7F800001, 0, _NAN, "sqrt(sNaN) = NaN"),
        (0xFFFFFFFF, 0, _NAN, "sqrt(-NaN) = NaN"),
        (0x3F800000, 0, 0x3F800000, "sqrt(1) = 1"),
        (0x40800000, 0, 0x40000000, "sqrt(4) = 2"),
        (0x40100000, 0, 0x3FC00000, "sqrt(2.25) = 1.5"),
        (0x3E800000, 0, 0x3F000000, "sqrt(0.25) = 0.5"),
        (0x40000000, 0, 0x3FB504F3, "sqrt(2)"),
        (0x3F000000, 0, 0x3F3504F3, "sqrt(0.5)"),
        (0x3F800001, 0, 0x3F800000, "sqrt(1 + ulp): just below a tie, down"),
        (0x3F800002, 0, 0x3F800001, "sqrt(1 + 2 ulp)"),
        (0x3F7FFFFF, 0, 0x3F7FFFFF, "sqrt(1 - 2^-24): just below a tie, down"),
        (0x00000001, 0, 0x1A3504F3, "sqrt(min sub) = 2^-74.5"),
        (0x00000002, 0, 0x1A800000, "sqrt(2^-148) = 2^-74"),
        (0x00000004, 0, 0x1AB504F3, "sqrt(2^-147)"),
        (0x00400000, 0, 0x1FB504F3, "sqrt(2^-127)"),
        (0x00800000, 0, 0x20000000, "sqrt(min normal) = 2^-63"),
        (0x7F000000, 0, 0x5F3504F3, "sqrt(2^127)"),
        (0x7E800000, 0, 0x5F000000, "sqrt(2^126) = 2^63"),
        (0x7F7FFFFF, 0, 0x5F7FFFFF, "sqrt(max)"),
    ],
}


def directed_vectors(op: str) -> tuple[Vectors, np.ndarray]:
    """The directed list for ``op`` plus every pair (div) or every value (sqrt) of a set of
    special operands; also the hand-written expected results of the directed list (uint32,
    aligned with the first ``len(DIRECTED[op])`` vectors)."""
    listed = DIRECTED[op]
    specials = np.array([
        0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00000002, 0x00000003, 0x007FFFFF,
        0x807FFFFF, 0x00400000, 0x00400001, 0x00800000, 0x80800000, 0x00800001, 0x00FFFFFF,
        0x3F000000, 0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF, 0x3FFFFFFF, 0x40000000,
        0x40400000, 0x4B800000, 0x7E800000, 0x7F000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7FFFFE,
        0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBFFFFF, 0x7FFFFFFF,
        0x33800000, 0x34000000, 0x0C000000, 0x33000000, 0x5F800000, 0x1A000000, 0x00000004,
    ], dtype=_U32)
    if op == "div":
        ga, gb = np.meshgrid(specials, specials, indexing="ij")
        sa, sb = ga.ravel(), gb.ravel()
    elif op == "sqrt":
        sa, sb = specials, np.zeros(len(specials), _U32)
    else:
        raise ValueError(f"op must be 'div' or 'sqrt', got {op!r}")
    a = np.concatenate([np.array([t[0] for t in listed], _U32), sa])
    b = np.concatenate([np.array([t[1] for t in listed], _U32), sb])
    hand = np.array([t[2] for t in listed], _U32)
    return Vectors(a=a, b=b, cls=np.zeros(len(a), np.uint8)), hand


def generate(op: str, n_random: int, seed: int) -> Vectors:
    """The directed cases followed by ``n_random`` random pairs spread over ``op``'s classes
    (shuffled, so that the pipeline sees the classes interleaved)."""
    if op not in OPS:
        raise ValueError(f"op must be 'div' or 'sqrt', got {op!r}")
    rng = np.random.default_rng(seed)
    directed, _ = directed_vectors(op)
    weights = _WEIGHTS[op]
    names = list(weights)
    counts = [int(n_random * weights[c]) for c in names]
    counts[names.index("normal")] += n_random - sum(counts)
    parts = []
    for name, count in zip(names, counts, strict=True):
        a, b = _GENERATORS[op][name](rng, count)
        parts.append(Vectors(a=a.astype(_U32), b=b.astype(_U32),
                             cls=np.full(count, CLASSES.index(name), np.uint8)))
    rest = Vectors.concat(parts)
    order = rng.permutation(len(rest))
    rest = Vectors(a=rest.a[order], b=rest.b[order], cls=rest.cls[order])
    return Vectors.concat([directed, rest])


# ------------------------------------------------------------------------------------------------
# Failure report
# ------------------------------------------------------------------------------------------------

def format_report(op: str, seed: int, vec: Vectors, exp: np.ndarray, got: np.ndarray,
                  mismatch: Mismatch, limit: int = 20) -> str:
    """Human-readable failure report: seed, counts per class, the first ``limit`` cases in hex."""
    idx = mismatch.index
    lines = [f"fp32_{op}: {len(idx)} of {len(vec)} results wrong (seed={seed})"]
    if mismatch.non_canonical_nan:
        lines.append(f"  {mismatch.non_canonical_nan} NaN results are not the canonical 0x7FC00000")
    per_class = np.bincount(vec.cls[idx], minlength=len(CLASSES))
    lines.append("  per class: " + ", ".join(
        f"{CLASSES[i]}={c}" for i, c in enumerate(per_class) if c))
    b_head = f"{'b':>8}  " if op == "div" else ""
    lines.append(f"  {'index':>8}  {'a':>8}  {b_head}{'expected':>8}  {'got':>8}  class")
    for i in idx[:limit]:
        b_col = f"{vec.b[i]:08x}  " if op == "div" else ""
        lines.append(f"  {i:8d}  {vec.a[i]:08x}  {b_col}{exp[i]:08x}  {got[i]:08x}  "
                     f"{CLASSES[vec.cls[i]]}")
    if len(idx) > limit:
        lines.append(f"  ... {len(idx) - limit} more")
    lines.append(f"  reproduce with FP32_SEED={seed}")
    return "\n".join(lines)
