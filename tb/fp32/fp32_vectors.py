"""Operand vectors, the NumPy oracle and the scoreboard for the FP32 unit regression.

Everything is vectorized NumPy on ``uint32`` bit patterns: generating a million operand pairs,
computing the expected results (``np.multiply`` / ``np.add`` on ``float32`` arrays, which the
CPU evaluates in IEEE-754 binary32 with round-to-nearest-even and gradual underflow) and comparing
them with the hardware's results take well under a second each.

Operand classes (one ``uint8`` label per pair, see :data:`CLASSES`) cover what an IEEE unit gets
wrong: normals, subnormals, signed zeros, infinities, quiet and signalling NaNs, results near
overflow and near the subnormal boundary, exact and massive cancellation, exact rounding ties
(even and odd), uniformly random bit patterns, and a directed list of corner cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CANONICAL_NAN",
    "CLASSES",
    "DIRECTED",
    "Mismatch",
    "Vectors",
    "check_oracle_ieee",
    "compare",
    "directed_vectors",
    "expected",
    "format_report",
    "generate",
    "is_nan",
    "read_hex32",
    "write_hex_pairs",
]

CANONICAL_NAN = 0x7FC00000

CLASSES: tuple[str, ...] = (
    "directed",
    "normal",
    "subnormal",
    "zero",
    "inf",
    "nan",
    "near_overflow",
    "near_underflow",
    "cancel",
    "tie",
    "random_bits",
)

# Share of the random budget per class (the directed list comes on top).
_WEIGHTS: dict[str, float] = {
    "normal": 0.20,
    "subnormal": 0.10,
    "zero": 0.05,
    "inf": 0.04,
    "nan": 0.04,
    "near_overflow": 0.08,
    "near_underflow": 0.15,
    "cancel": 0.10,
    "tie": 0.12,
    "random_bits": 0.12,
}

_U32 = np.uint32
_SIGN = 0x80000000
_FRAC_MASK = 0x7FFFFF
_INF = 0x7F800000

Op = str  # "mul" or "add"


@dataclass(frozen=True)
class Vectors:
    """Operand pairs with a class label each."""

    a: np.ndarray    # uint32
    b: np.ndarray    # uint32
    cls: np.ndarray  # uint8 index into CLASSES

    def __len__(self) -> int:
        return len(self.a)

    @staticmethod
    def concat(parts: list[Vectors]) -> Vectors:
        return Vectors(
            a=np.concatenate([p.a for p in parts]).astype(_U32),
            b=np.concatenate([p.b for p in parts]).astype(_U32),
            cls=np.concatenate([p.cls for p in parts]).astype(np.uint8),
        )


# ------------------------------------------------------------------------------------------------
# Oracle
# ------------------------------------------------------------------------------------------------

def expected(op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit patterns of ``a op b`` computed by NumPy in float32 (uint32 array)."""
    fa = np.ascontiguousarray(a, dtype=_U32).view(np.float32)
    fb = np.ascontiguousarray(b, dtype=_U32).view(np.float32)
    with np.errstate(all="ignore"):
        if op == "mul":
            y = np.multiply(fa, fb, dtype=np.float32)
        elif op == "add":
            y = np.add(fa, fb, dtype=np.float32)
        else:
            raise ValueError(f"op must be 'mul' or 'add', got {op!r}")
    return y.view(_U32)


def check_oracle_ieee() -> None:
    """Fail loudly if this process computes float32 with flush-to-zero / denormals-are-zero."""
    tiny = np.array([1], dtype=_U32).view(np.float32)  # 2^-149
    two = np.array([2.0], dtype=np.float32)
    got = (tiny * two).view(_U32)[0]
    got_add = (tiny + tiny).view(_U32)[0]
    if got != 2 or got_add != 2:
        raise RuntimeError(
            "NumPy float32 arithmetic flushes subnormals in this process (FTZ/DAZ set?); "
            "it cannot serve as the IEEE oracle"
        )


def is_nan(bits: np.ndarray) -> np.ndarray:
    return ((bits & _INF) == _INF) & ((bits & _FRAC_MASK) != 0)


# ------------------------------------------------------------------------------------------------
# Field helpers
# ------------------------------------------------------------------------------------------------

def _pack(sign: np.ndarray, exp: np.ndarray, frac: np.ndarray) -> np.ndarray:
    return ((sign.astype(np.uint64) << 31) | (exp.astype(np.uint64) << 23)
            | (frac.astype(np.uint64) & _FRAC_MASK)).astype(_U32)


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n, dtype=np.int64)


def _fracs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fractions with structure: uniform, few high bits, all-ones runs, near zero."""
    uni = rng.integers(0, 1 << 23, n, dtype=np.int64)
    kind = rng.integers(0, 6, n)
    shift = rng.integers(0, 23, n)
    small = rng.integers(0, 8, n, dtype=np.int64)
    out = uni.copy()
    out = np.where(kind == 1, (uni >> shift) << shift, out)        # trailing zeros
    out = np.where(kind == 2, _FRAC_MASK - small, out)              # near all ones
    out = np.where(kind == 3, small, out)                           # near zero
    out = np.where(kind == 4, _FRAC_MASK >> shift, out)             # low ones
    return out & _FRAC_MASK


def _subnormals(rng: np.random.Generator, n: int) -> np.ndarray:
    """Nonzero subnormal magnitudes with any number of leading zeros (exponent field 0)."""
    frac = _fracs(rng, n) >> rng.integers(0, 23, n)
    frac = np.where(frac == 0, rng.integers(1, 4, n), frac)
    return _pack(_signs(rng, n), np.zeros(n, np.int64), frac)


def _normals(rng: np.random.Generator, n: int, lo: int = 1, hi: int = 254) -> np.ndarray:
    return _pack(_signs(rng, n), rng.integers(lo, hi + 1, n), _fracs(rng, n))


def _nans(rng: np.random.Generator, n: int) -> np.ndarray:
    payload = rng.integers(1, 1 << 22, n, dtype=np.int64)
    quiet = rng.integers(0, 2, n, dtype=np.int64) << 22
    frac = quiet | np.where(quiet == 0, payload, payload >> rng.integers(0, 22, n))
    frac = np.where(frac == 0, 1, frac)  # signalling NaNs need a nonzero payload
    return _pack(_signs(rng, n), np.full(n, 255), frac)


def _any_value(rng: np.random.Generator, n: int) -> np.ndarray:
    """A mix of every kind of operand (for the other side of a special one)."""
    pick = rng.integers(0, 7, n)
    out = _normals(rng, n)
    out = np.where(pick == 1, _subnormals(rng, n), out)
    out = np.where(pick == 2, _pack(_signs(rng, n), np.zeros(n, np.int64), np.zeros(n, np.int64)), out)
    out = np.where(pick == 3, _pack(_signs(rng, n), np.full(n, 255), np.zeros(n, np.int64)), out)
    out = np.where(pick == 4, _nans(rng, n), out)
    out = np.where(pick == 5, rng.integers(0, 1 << 32, n, dtype=np.int64).astype(_U32), out)
    return out.astype(_U32)


def _maybe_swap(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    swap = rng.integers(0, 2, len(a)).astype(bool)
    return np.where(swap, b, a).astype(_U32), np.where(swap, a, b).astype(_U32)


def _bitlen(x: np.ndarray) -> np.ndarray:
    """Bit length of nonnegative int64 values (0 for 0), exact up to 2^53 and beyond for ints."""
    x = x.astype(np.int64)
    out = np.zeros(x.shape, np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        big = (x >> s) > 0
        out += np.where(big, s, 0)
        x = np.where(big, x >> s, x)
    return out + (x > 0)


# ------------------------------------------------------------------------------------------------
# Class generators: (rng, n, op) -> (a, b)
# ------------------------------------------------------------------------------------------------

Gen = Callable[[np.random.Generator, int, Op], tuple[np.ndarray, np.ndarray]]


def _gen_normal(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    ea = rng.integers(1, 255, n)
    if op == "mul":
        # keep the product's exponent ea + eb - 127 inside the normal range
        lo = np.maximum(1, 128 - ea)
        hi = np.minimum(254, 381 - ea)
        eb = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    else:
        mix = rng.integers(0, 10, n)
        d = np.where(mix < 5, rng.integers(-3, 4, n),
                     np.where(mix < 9, rng.integers(-30, 31, n), rng.integers(-253, 254, n)))
        eb = np.clip(ea + d, 1, 254)
    a = _pack(_signs(rng, n), ea, _fracs(rng, n))
    b = _pack(_signs(rng, n), eb, _fracs(rng, n))
    return a, b


def _gen_subnormal(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    a = _subnormals(rng, n)
    pick = rng.integers(0, 5, n)
    if op == "mul":
        big = _normals(rng, n, 100, 254)      # products land in the normal and subnormal range
    else:
        big = _normals(rng, n, 1, 40)
    b = np.where(pick == 0, _subnormals(rng, n), np.where(pick == 1, _normals(rng, n, 1, 4), big))
    return _maybe_swap(rng, a, b)


def _gen_zero(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    a = _pack(_signs(rng, n), np.zeros(n, np.int64), np.zeros(n, np.int64))
    return _maybe_swap(rng, a, _any_value(rng, n))


def _gen_inf(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    a = _pack(_signs(rng, n), np.full(n, 255), np.zeros(n, np.int64))
    return _maybe_swap(rng, a, _any_value(rng, n))


def _gen_nan(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    return _maybe_swap(rng, _nans(rng, n), _any_value(rng, n))


def _gen_near_overflow(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    if op == "mul":
        s = rng.integers(252 + 127, 257 + 127, n)           # ea + eb: product exponent 252..256
        ea = rng.integers(np.maximum(1, s - 254), np.minimum(254, s - 1) + 1)
        eb = s - ea
        sa, sb = _signs(rng, n), _signs(rng, n)
    else:
        ea = rng.integers(248, 255, n)
        eb = rng.integers(240, 255, n)
        sa = _signs(rng, n)
        sb = np.where(rng.random(n) < 0.8, sa, 1 - sa)         # mostly same sign: carries out
    return _pack(sa, ea, _fracs(rng, n)), _pack(sb, eb, _fracs(rng, n))


def _gen_near_underflow(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    if op == "mul":
        s = rng.integers(-27 + 127, 4 + 127, n)             # product exponent -27..3
        ea = rng.integers(np.maximum(1, s - 254), np.minimum(254, s - 1) + 1)
        eb = s - ea
        a = _pack(_signs(rng, n), ea, _fracs(rng, n))
        b = _pack(_signs(rng, n), eb, _fracs(rng, n))
        # a quarter with a subnormal operand and a large partner
        sub = rng.random(n) < 0.25
        a = np.where(sub, _subnormals(rng, n), a)
        b = np.where(sub, _normals(rng, n, 100, 160), b)
        return _maybe_swap(rng, a, b)
    pick = rng.integers(0, 4, n)
    a = np.where(pick == 0, _subnormals(rng, n), _normals(rng, n, 1, 3))
    a = np.where(pick == 3, _normals(rng, n, 1, 1), a)         # 1.x - 1.y: always subnormal
    b = np.where(pick == 2, _subnormals(rng, n), _normals(rng, n, 1, 2))
    b = np.where(pick == 3, _normals(rng, n, 1, 1), b)
    sa = a >> 31
    sb = np.where(rng.random(n) < 0.7, 1 - sa, sa)             # mostly opposite signs
    b = ((b & 0x7FFFFFFF) | (sb.astype(np.uint64) << 31)).astype(_U32)
    return a.astype(_U32), b


def _gen_cancel(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    a = np.where(rng.random(n) < 0.85, _normals(rng, n), _subnormals(rng, n)).astype(np.int64)
    mag = a & 0x7FFFFFFF
    kind = rng.integers(0, 4, n)
    k = rng.integers(-3, 4, n)
    near = np.clip(mag + k, 0, 0x7F7FFFFF)                    # same magnitude +- a few ulps
    exp_a = mag >> 23
    d = rng.choice(np.array([-1, 1]), n)
    other_binade = _pack(np.zeros(n, np.int64), np.clip(exp_a + d, 1, 254),
                         _FRAC_MASK - rng.integers(0, 1 << 12, n))  # massive cancellation, d = 1
    other_binade = np.where(d < 0, _pack(np.zeros(n, np.int64), np.clip(exp_a - 1, 0, 254),
                                         _FRAC_MASK - rng.integers(0, 1 << 12, n)),
                            _pack(np.zeros(n, np.int64), np.clip(exp_a + 1, 1, 254),
                                  rng.integers(0, 1 << 12, n)))
    bmag = np.where(kind == 0, mag, np.where(kind == 1, near, other_binade.astype(np.int64)))
    bmag = np.where(kind == 3, mag ^ rng.integers(0, 1 << 23, n) >> rng.integers(0, 23, n), bmag)
    sb = 1 - (a >> 31)                                         # opposite sign: subtraction
    b = (bmag | (sb << 31)).astype(_U32)
    return _maybe_swap(rng, a.astype(_U32), b)


def _gen_tie_add(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # b's bits below ulp(a) are exactly 100..0: a + b lies halfway between two floats (as long as
    # the sum stays in a's binade; otherwise it is a quarter/three-quarter case, also useful).
    d = rng.integers(1, 25, n)
    ea = rng.integers(1, 255, n)
    ea = np.maximum(ea, d + 1)                                 # eb = ea - d >= 1: b normal
    eb = ea - d
    mb = (rng.integers(0, 1 << 24, n, dtype=np.int64) | (1 << 23))
    mb = ((mb >> d) << d) | (np.int64(1) << (d - 1))
    fa = np.where(rng.random(n) < 0.2, _FRAC_MASK - rng.integers(0, 2, n), _fracs(rng, n))
    a = _pack(_signs(rng, n), ea, fa)
    b = _pack(_signs(rng, n), eb, mb)
    return _maybe_swap(rng, a, b)


def _odd_with_bits(rng: np.random.Generator, bits: np.ndarray) -> np.ndarray:
    """Random odd integers with exactly ``bits`` significant bits (1..24) each."""
    top = np.int64(1) << (bits - 1)
    return top | (rng.integers(0, 1 << 24, len(bits), dtype=np.int64) & (top - 1)) | 1


def _gen_tie_mul(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Choose odd u, v whose product has exactly p + 1 significant bits, where p is the precision of
    # the result (24, or 23 + E for a subnormal result with biased exponent E <= 0); then the
    # exact product is a midpoint. Exponents place the result where we want it.
    out_a: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    have = 0
    while have < n:
        m = 2 * (n - have) + 64
        e_target = np.where(rng.random(m) < 0.7, rng.integers(1, 255, m), rng.integers(-22, 1, m))
        p = np.where(e_target >= 1, 24, 23 + e_target)
        t = p + 1
        bu = rng.integers(np.maximum(1, t - 24), np.minimum(24, t) + 1)
        bv = np.clip(t - bu + rng.integers(0, 2, m), 1, 24)
        u = _odd_with_bits(rng, bu)
        v = _odd_with_bits(rng, bv)
        ok = _bitlen(u * v) == t
        ma = u << (24 - bu)
        mb = v << (24 - bv)
        lead = _bitlen(ma * mb) - 1                           # 46 or 47
        s = e_target + 173 - lead                              # ea + eb
        lo = np.maximum(1, s - 254)
        hi = np.minimum(254, s - 1)
        ok &= lo <= hi
        ea = lo + (rng.random(m) * np.maximum(hi - lo + 1, 1)).astype(np.int64)
        eb = s - ea
        ok &= (eb >= 1) & (eb <= 254)
        a = _pack(_signs(rng, m), ea, ma)[ok]
        b = _pack(_signs(rng, m), eb, mb)[ok]
        out_a.append(a)
        out_b.append(b)
        have += len(a)
    a = np.concatenate(out_a)[:n]
    b = np.concatenate(out_b)[:n]
    return _maybe_swap(rng, a, b)


def _gen_tie(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    return _gen_tie_mul(rng, n) if op == "mul" else _gen_tie_add(rng, n)


def _gen_random_bits(rng: np.random.Generator, n: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    return (rng.integers(0, 1 << 32, n, dtype=np.int64).astype(_U32),
            rng.integers(0, 1 << 32, n, dtype=np.int64).astype(_U32))


_GENERATORS: dict[str, Gen] = {
    "normal": _gen_normal,
    "subnormal": _gen_subnormal,
    "zero": _gen_zero,
    "inf": _gen_inf,
    "nan": _gen_nan,
    "near_overflow": _gen_near_overflow,
    "near_underflow": _gen_near_underflow,
    "cancel": _gen_cancel,
    "tie": _gen_tie,
    "random_bits": _gen_random_bits,
}


# ------------------------------------------------------------------------------------------------
# Directed corner cases: (a, b, expected) written out by hand, per op. NaN expected = CANONICAL_NAN.
# ------------------------------------------------------------------------------------------------

DIRECTED: dict[Op, list[tuple[int, int, int, str]]] = {
    "mul": [
        (0x7F800000, 0x00000000, CANONICAL_NAN, "Inf * 0 = NaN"),
        (0x80000000, 0xFF800000, CANONICAL_NAN, "-0 * -Inf = NaN"),
        (0x7FC00000, 0x3F800000, CANONICAL_NAN, "qNaN * 1 = NaN"),
        (0x3F800000, 0x7F800001, CANONICAL_NAN, "1 * sNaN = NaN"),
        (0xFFFFFFFF, 0x00000000, CANONICAL_NAN, "NaN * 0 = NaN"),
        (0x7F800000, 0xBF800000, 0xFF800000, "Inf * -1 = -Inf"),
        (0xFF800000, 0xFF800000, 0x7F800000, "-Inf * -Inf = Inf"),
        (0x7F800000, 0x00000001, 0x7F800000, "Inf * min subnormal = Inf"),
        (0x80000000, 0x3F800000, 0x80000000, "-0 * 1 = -0"),
        (0x80000000, 0x80000000, 0x00000000, "-0 * -0 = +0"),
        (0x00000000, 0xBF800000, 0x80000000, "+0 * -1 = -0"),
        (0x00000001, 0x00000001, 0x00000000, "min sub squared = +0"),
        (0x80000001, 0x00000001, 0x80000000, "-min sub * min sub = -0"),
        (0x00000001, 0x3F000000, 0x00000000, "min sub * 0.5: tie to even 0"),
        (0x00000003, 0x3F000000, 0x00000002, "3 ulp * 0.5: tie to even 2"),
        (0x00000001, 0x3F400000, 0x00000001, "min sub * 0.75 rounds up"),
        (0x00000001, 0x3F000001, 0x00000001, "min sub * (0.5 + eps) rounds up"),
        (0x00800000, 0x3F000000, 0x00400000, "min normal * 0.5 = subnormal"),
        (0x00800001, 0x3F000000, 0x00400000, "tie to even at the subnormal boundary"),
        (0x00800003, 0x3F000000, 0x00400002, "tie to even (odd) at the subnormal boundary"),
        (0x00FFFFFF, 0x3F000000, 0x00800000, "rounds up from subnormal into min normal"),
        (0x007FFFFF, 0x40000000, 0x00FFFFFE, "max subnormal * 2 = normal"),
        (0x00000001, 0x4B000000, 0x00800000, "min sub * 2^23 = min normal"),
        (0x00000001, 0x7F000000, 0x34800000, "min sub * 2^127 = 2^-22"),
        (0x007FFFFF, 0x3F800000, 0x007FFFFF, "max subnormal * 1 exact"),
        (0x7F7FFFFF, 0x40000000, 0x7F800000, "max * 2 overflows to Inf"),
        (0xFF7FFFFF, 0x3F800001, 0xFF800000, "-max * (1 + ulp) overflows to -Inf"),
        (0x7F7FFFFF, 0x3F800000, 0x7F7FFFFF, "max * 1 = max"),
        (0x7F7FFFFF, 0x3F7FFFFF, 0x7F7FFFFE, "max * (1 - ulp/2)"),
        (0x3F800001, 0x3F800001, 0x3F800002, "(1 + ulp)^2 rounds to 1 + 2 ulp"),
        (0x3FFFFFFF, 0x3FFFFFFF, 0x407FFFFE, "(2 - ulp)^2"),
        (0x3F800000, 0x3F800000, 0x3F800000, "1 * 1"),
        (0x40400000, 0x3EAAAAAB, 0x3F800000, "3 * (1/3 rounded) = 1"),
        (0x1F800000, 0x1F800000, 0x00200000, "2^-64 squared = 2^-128, exact subnormal"),
        (0x1A000000, 0x1A000000, 0x00000000, "2^-75 squared = 2^-150: tie to even 0"),
        (0x1A000000, 0x9A000001, 0x80000001, "just over half the min subnormal rounds up"),
        (0x1A000000, 0x19FFFFFF, 0x00000000, "just under half the min subnormal: 0"),
    ],
    "add": [
        (0x3F800000, 0xBF800000, 0x00000000, "1 + -1 = +0"),
        (0x80000000, 0x80000000, 0x80000000, "-0 + -0 = -0"),
        (0x00000000, 0x80000000, 0x00000000, "+0 + -0 = +0"),
        (0x80000000, 0x00000000, 0x00000000, "-0 + +0 = +0"),
        (0x00000000, 0x00000000, 0x00000000, "+0 + +0 = +0"),
        (0x80000001, 0x00000001, 0x00000000, "-min sub + min sub = +0"),
        (0x80000000, 0x00000001, 0x00000001, "-0 + min sub = min sub"),
        (0x80000000, 0xBF800000, 0xBF800000, "-0 + -1 = -1"),
        (0x00000001, 0x00000001, 0x00000002, "min sub + min sub"),
        (0x007FFFFF, 0x00000001, 0x00800000, "max sub + min sub = min normal"),
        (0x00800000, 0x80000001, 0x007FFFFF, "min normal - min sub = max sub"),
        (0x00800001, 0x80800000, 0x00000001, "massive cancellation into subnormal"),
        (0x00C00000, 0x80800000, 0x00400000, "normal - normal = subnormal"),
        (0x7F800000, 0xFF800000, CANONICAL_NAN, "Inf - Inf = NaN"),
        (0x7F800000, 0x7F800000, 0x7F800000, "Inf + Inf = Inf"),
        (0xFF800000, 0x7F7FFFFF, 0xFF800000, "-Inf + max = -Inf"),
        (0x7FC00000, 0x7F800000, CANONICAL_NAN, "qNaN + Inf = NaN"),
        (0x00000000, 0xFF800001, CANONICAL_NAN, "0 + sNaN = NaN"),
        (0x7F7FFFFF, 0x7F7FFFFF, 0x7F800000, "max + max overflows"),
        (0x7F7FFFFF, 0x73000000, 0x7F800000, "max + ulp/2: tie, odd, rounds to Inf"),
        (0x7F7FFFFF, 0x72FFFFFF, 0x7F7FFFFF, "max + just under ulp/2 = max"),
        (0xFF7FFFFF, 0xF3000000, 0xFF800000, "-max - ulp/2 = -Inf"),
        (0x3F800000, 0x33800000, 0x3F800000, "1 + ulp/2: tie to even (down)"),
        (0x3F800001, 0x33800000, 0x3F800002, "(1 + ulp) + ulp/2: tie to even (up)"),
        (0x3F800000, 0x33800001, 0x3F800001, "1 + just over ulp/2 rounds up"),
        (0x3F800000, 0xB3800000, 0x3F7FFFFF, "1 - 2^-24 exact"),
        (0x3F800000, 0xB3000000, 0x3F800000, "1 - 2^-25: tie to even (1.0)"),
        (0x3F800000, 0xB3800001, 0x3F7FFFFF, "1 - (2^-24 + tiny)"),
        (0x4B800000, 0x3F800000, 0x4B800000, "2^24 + 1: tie to even"),
        (0x4B800001, 0x3F800000, 0x4B800002, "(2^24 + 2) + 1: tie to even (up)"),
        (0x4B800000, 0xBF800001, 0x4B7FFFFF, "2^24 - (1 + ulp): sticky in subtraction"),
        (0x3F800001, 0xBF800000, 0x34000000, "massive cancellation: 1 ulp left"),
        (0x7F7FFFFF, 0xFF7FFFFE, 0x73800000, "max - (max - ulp)"),
        (0x3F800000, 0x00000001, 0x3F800000, "1 + min sub = 1 (sticky only)"),
        (0xBF800000, 0x00000001, 0xBF800000, "-1 + min sub = -1"),
        (0x3FFFFFFF, 0x3FFFFFFF, 0x407FFFFF, "carry-out: (2 - ulp) * 2 exact"),
        (0x3FFFFFFF, 0x34000000, 0x40000000, "carry through all-ones fraction"),
        (0x4B7FFFFF, 0x3F000000, 0x4B800000, "(2^24 - 1) + 0.5: tie, odd, up into next binade"),
    ],
}


def directed_vectors(op: Op) -> tuple[Vectors, np.ndarray]:
    """The directed list for ``op`` plus every pair of special values; also the hand-written
    expected results of the directed list (uint32, aligned with the first len(DIRECTED[op]))."""
    listed = DIRECTED[op]
    specials = np.array([
        0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00000002, 0x007FFFFF, 0x807FFFFF,
        0x00400000, 0x00800000, 0x80800000, 0x00800001, 0x00FFFFFF, 0x3F000000, 0x3F800000,
        0xBF800000, 0x3F800001, 0x3FFFFFFF, 0x40000000, 0x4B800000, 0x7F000000, 0x7F7FFFFF,
        0xFF7FFFFF, 0x7F7FFFFE, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
        0xFFBFFFFF, 0x7FFFFFFF, 0x33800000, 0x34000000, 0x0C000000, 0x33000000, 0x5F800000,
    ], dtype=_U32)
    ga, gb = np.meshgrid(specials, specials, indexing="ij")
    a = np.concatenate([np.array([t[0] for t in listed], _U32), ga.ravel()])
    b = np.concatenate([np.array([t[1] for t in listed], _U32), gb.ravel()])
    cls = np.zeros(len(a), np.uint8)
    hand = np.array([t[2] for t in listed], _U32)
    return Vectors(a=a, b=b, cls=cls), hand


def generate(op: Op, n_random: int, seed: int) -> Vectors:
    """The directed cases followed by ``n_random`` random pairs spread over the classes
    (in a shuffled order, so the pipeline sees the classes interleaved)."""
    if op not in ("mul", "add"):
        raise ValueError(f"op must be 'mul' or 'add', got {op!r}")
    rng = np.random.default_rng(seed)
    directed, _ = directed_vectors(op)
    parts = [directed]
    names = list(_WEIGHTS)
    counts = [int(n_random * _WEIGHTS[c]) for c in names]
    counts[names.index("normal")] += n_random - sum(counts)
    for name, count in zip(names, counts, strict=True):
        a, b = _GENERATORS[name](rng, count, op)
        parts.append(Vectors(a=a.astype(_U32), b=b.astype(_U32),
                             cls=np.full(count, CLASSES.index(name), np.uint8)))
    head = parts[0]
    rest = Vectors.concat(parts[1:])
    order = rng.permutation(len(rest))
    rest = Vectors(a=rest.a[order], b=rest.b[order], cls=rest.cls[order])
    return Vectors.concat([head, rest])


# ------------------------------------------------------------------------------------------------
# Hex files
# ------------------------------------------------------------------------------------------------

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_columns(words: np.ndarray) -> np.ndarray:
    """(n, 8) ASCII hex digits of uint32 words."""
    w = np.ascontiguousarray(words, dtype=_U32)
    shifts = np.arange(28, -4, -4, dtype=_U32)
    return _HEX_DIGITS[(w[:, None] >> shifts) & 0xF]


def write_hex_pairs(path: str | bytes, a: np.ndarray, b: np.ndarray) -> None:
    """One line ``aaaaaaaabbbbbbbb`` per pair (for ``$readmemh`` into a 64-bit memory)."""
    n = len(a)
    text = np.empty((n, 17), np.uint8)
    text[:, 0:8] = _hex_columns(a)
    text[:, 8:16] = _hex_columns(b)
    text[:, 16] = ord("\n")
    with open(path, "wb") as f:
        f.write(text.tobytes())


_HEX_VALUE = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_VALUE[_c] = 10 + _i


def read_hex32(path: str | bytes) -> np.ndarray:
    """Words of a ``$writememh`` file (comments and blank lines skipped) as uint32."""
    with open(path, "rb") as f:
        data = f.read()
    raw = np.frombuffer(data, dtype=np.uint8)
    if len(raw) % 9 == 0 and np.all(raw[8::9] == ord("\n")):
        digits = raw.reshape(-1, 9)[:, :8]          # fast path: one 8-digit word per line
    else:
        lines = [ln.strip() for ln in data.split(b"\n")]
        words = [ln for ln in lines if ln and not ln.startswith(b"//")]
        if any(len(w) != 8 for w in words):
            raise ValueError(f"{path!r}: expected 8 hex digits per line")
        digits = np.frombuffer(b"".join(words), dtype=np.uint8).reshape(-1, 8)
    nyb = _HEX_VALUE[digits].astype(np.uint32)
    if np.any(nyb == 255):
        raise ValueError(f"{path!r}: non-hex digits (X/Z?) in results")
    shifts = np.arange(28, -4, -4, dtype=np.uint32)
    return np.bitwise_or.reduce(nyb << shifts, axis=1).astype(_U32)


# ------------------------------------------------------------------------------------------------
# Scoreboard
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mismatch:
    """Result of :func:`compare`."""

    index: np.ndarray          # positions that failed
    non_canonical_nan: int     # NaN results that are NaN but not 0x7FC00000

    @property
    def ok(self) -> bool:
        return len(self.index) == 0


def compare(exp: np.ndarray, got: np.ndarray, *, canonical_nan: bool = True) -> Mismatch:
    """Bit-exact comparison, except that an expected NaN matches any NaN.

    With ``canonical_nan`` a NaN result must also be exactly 0x7FC00000 (what the RTL promises);
    such failures are counted separately and included in ``index``.
    """
    if len(exp) != len(got):
        raise ValueError(f"{len(got)} results for {len(exp)} vectors")
    exp_nan = is_nan(exp)
    got_nan = is_nan(got)
    bad = np.where(exp_nan, ~got_nan, got != exp)
    nonc = np.zeros_like(bad)
    if canonical_nan:
        nonc = exp_nan & got_nan & (got != CANONICAL_NAN)
    return Mismatch(index=np.flatnonzero(bad | nonc), non_canonical_nan=int(np.count_nonzero(nonc)))


def format_report(op: Op, seed: int, vec: Vectors, exp: np.ndarray, got: np.ndarray,
                  mismatch: Mismatch, limit: int = 20) -> str:
    """Human-readable failure report: seed, counts per class, the first ``limit`` cases in hex."""
    idx = mismatch.index
    lines = [f"fp32_{op}: {len(idx)} of {len(vec)} results wrong (seed={seed})"]
    if mismatch.non_canonical_nan:
        lines.append(f"  {mismatch.non_canonical_nan} NaN results are not the canonical 0x7FC00000")
    per_class = np.bincount(vec.cls[idx], minlength=len(CLASSES))
    lines.append("  per class: " + ", ".join(
        f"{CLASSES[i]}={c}" for i, c in enumerate(per_class) if c))
    lines.append(f"  {'index':>8}  {'a':>8}  {'b':>8}  {'expected':>8}  {'got':>8}  class")
    for i in idx[:limit]:
        lines.append(f"  {i:8d}  {vec.a[i]:08x}  {vec.b[i]:08x}  {exp[i]:08x}  {got[i]:08x}  "
                     f"{CLASSES[vec.cls[i]]}")
    if len(idx) > limit:
        lines.append(f"  ... {len(idx) - limit} more")
    lines.append(f"  reproduce with FP32_SEED={seed}")
    return "\n".join(lines)
