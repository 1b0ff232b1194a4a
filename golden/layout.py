"""DRAM data layouts ("data reshaping"): the one definition of where every word lives.

The runtime, the RTL DMA, the HLS kernels and the testbenches all place and fetch tensors
with this module. All addresses are in 32-bit words from the start of the tensor's buffer
unless a name says ``byte``. Every tensor is IEEE-754 binary32; packing and unpacking move
bit patterns and never do arithmetic (NaN payloads, ``-0.0`` and subnormals survive).

Feature maps and gradients, shape ``(B, C, H, W)``
    ``reshaped``: ``[B][ceil(C/CB)][H][W][CB]``. Channels are blocked by ``CB`` (``cfg.tn``,
    the engine's adder-tree width) and the lane is innermost, so one pixel's ``CB`` channels
    are one contiguous group and one channel block's rows are one contiguous run. Lanes of
    the last block beyond ``C`` are padding and hold ``+0.0``. Word address of
    ``(b, c, h, w)``::

        (((b * ceil(C/CB) + c // CB) * H + h) * W + w) * CB + c % CB

    ``plain``: ordinary NCHW, ``((b * C + c) * H + h) * W + w``.

Weights, shape ``(M, N, KH, KW)`` (OIHW; the convolutions use ``KH == KW == K``)
    ``reshaped``: ``[ceil(M/Tm)][ceil(N/Tn)][KH][KW][Tm][Tn]``. Tile ``(mt, nt)`` covers
    output channels ``mt*Tm ...`` and input channels ``nt*Tn ...`` and is one contiguous run of
    ``Tm*Tn*KH*KW`` words; inside it the kernel position is the outer index, then ``m``, then
    ``n`` (the order the engine consumes a ``Tm x Tn`` slice per kernel position). Partial
    tiles at the ``M``/``N`` edges are padded with ``+0.0`` so every tile has the same size,
    and the tiles of one ``mt`` are consecutive. Word address of ``(m, n, kh, kw)``::

        ((((m // Tm) * ceil(N/Tn) + n // Tn) * KH + kh) * KW + kw) * Tm * Tn + (m % Tm) * Tn + n % Tn

    ``plain``: ordinary OIHW, ``((m * N + n) * KH + kh) * KW + kw``. The same DRAM weight layout
    serves FP, BP (flip and channel swap happen on chip while loading) and WU.

Boxes and ranges
    A feature-map box is ``(b, c0, c1, r0, r1, col0, col1)``: one image, half-open channel, row
    and column intervals. A weight box is ``(m0, m1, n0, n1)`` and always covers every kernel
    position. In the reshaped layouts a box is rounded out to whole channel blocks (feature
    maps) or whole tiles (weights), because the DMA moves the padding lanes too.
    :meth:`FmapLayout.ranges` / :meth:`WeightLayout.ranges` return the minimal list of
    contiguous word ranges ``(start_word, n_words)`` covering the (rounded) box, in increasing
    address order, with adjacent runs merged.

    The tile loop schedule (which boxes a layer phase moves, in which order) is not defined
    here; :mod:`eftrain.perf` and the runtime own it and ask this module for each box's ranges.

Bursts
    :func:`axi_bursts` splits word ranges into AXI4 INCR bursts (at most ``max_beats`` beats,
    never crossing a ``boundary``-byte boundary, 4 KiB by default); :func:`count_traffic`
    summarises them as a :class:`TrafficCount`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from eftrain.config import HwConfig, preset

__all__ = [
    "KINDS",
    "Burst",
    "FmapLayout",
    "Kind",
    "Range",
    "TrafficCount",
    "WeightLayout",
    "axi_bursts",
    "count_traffic",
    "fmap_layout",
    "merge_ranges",
    "weight_layout",
]

Kind = Literal["reshaped", "plain"]
KINDS: tuple[str, ...] = ("reshaped", "plain")

Range = tuple[int, int]
"""A contiguous run of DRAM words: ``(start_word, n_words)``."""

WORD_BYTES = 4


# ---------------------------------------------------------------------------------------------
# validation helpers


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _positive_int(name: str, value: object) -> int:
    v = _as_int(name, value)
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return v


def _shape4(name: str, shape: object) -> tuple[int, int, int, int]:
    try:
        items = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a 4-tuple of positive integers, got {shape!r}") from None
    if len(items) != 4:
        raise ValueError(f"{name} must be a 4-tuple of positive integers, got {shape!r}")
    a, b, c, d = (_positive_int(f"{name}[{i}]", v) for i, v in enumerate(items))
    return a, b, c, d


def _kind(name: str, kind: object) -> Kind:
    if kind not in KINDS:
        raise ValueError(f"{name} must be one of {KINDS}, got {kind!r}")
    return kind  # type: ignore[return-value]


def _index(name: str, value: object, limit: int) -> int:
    v = _as_int(name, value)
    if not 0 <= v < limit:
        raise ValueError(f"{name}={v} out of range [0, {limit})")
    return v


def _interval(name: str, lo: object, hi: object, limit: int) -> tuple[int, int]:
    a, b = _as_int(f"{name} start", lo), _as_int(f"{name} end", hi)
    if not 0 <= a < b <= limit:
        raise ValueError(f"{name} [{a}, {b}) must satisfy 0 <= start < end <= {limit}")
    return a, b


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _to_words(name: str, array: npt.ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` as float32 of ``shape``, viewed as uint32 bit patterns (no arithmetic)."""
    a = np.asarray(array)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, layout expects {shape}")
    if a.dtype != np.float32:
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{name} must be a numeric array, got dtype {a.dtype}")
        a = a.astype(np.float32)
    return a.view(np.uint32)


def _from_buf(name: str, buf: npt.ArrayLike, size: int) -> np.ndarray:
    """A DRAM word buffer (float32 or raw uint32 words, 1-D, ``size`` long) as uint32."""
    a = np.asarray(buf)
    if a.ndim != 1 or a.size != size:
        raise ValueError(f"{name} must be 1-D with {size} words, got shape {a.shape}")
    if a.dtype == np.float32 or a.dtype == np.uint32 or a.dtype == np.int32:
        return a.view(np.uint32)
    raise ValueError(f"{name} must hold float32 (or raw uint32) words, got dtype {a.dtype}")


def _box_runs(dims: Sequence[int], lo: Sequence[int], hi: Sequence[int]) -> list[Range]:
    """Minimal contiguous runs of the sub-box ``[lo, hi)`` of a row-major array ``dims``.

    Inner dimensions the box covers fully fuse with the first (innermost) one it covers
    partly into one run; every index of the outer dimensions then starts one run. Runs come
    out in increasing address order and no two are adjacent (the partly covered dimension
    leaves a gap between them), so the list is minimal.
    """
    n = len(dims)
    strides = [1] * n
    for i in range(n - 2, -1, -1):
        strides[i] = strides[i + 1] * dims[i + 1]
    run = 1
    split = 0  # dims[:split] are enumerated, dims[split:] form one run
    for i in range(n - 1, -1, -1):
        run *= hi[i] - lo[i]
        if hi[i] - lo[i] != dims[i]:
            split = i
            break
    base = sum(lo[i] * strides[i] for i in range(split, n))
    starts = np.full((), base, dtype=np.int64)
    for i in range(split):
        axis = np.arange(lo[i], hi[i], dtype=np.int64) * strides[i]
        starts = starts[..., None] + axis
    return [(s, run) for s in starts.reshape(-1).tolist()]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Sort word ranges and merge the overlapping or adjacent ones.

    Useful to combine the ranges of several boxes (e.g. the boxes of one image that a
    schedule loads back to back) into the fewest contiguous transfers.
    """
    out: list[list[int]] = []
    for start, n in sorted((_as_int("range start", s), _positive_int("range length", k)) for s, k in ranges):
        if out and start <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], start + n - out[-1][0])
        else:
            out.append([start, n])
    return [(s, n) for s, n in out]


# ---------------------------------------------------------------------------------------------
# feature maps and gradients


@dataclass(frozen=True)
class FmapLayout:
    """DRAM layout of a feature map or gradient of shape ``(B, C, H, W)``.

    Attributes:
        shape: ``(B, C, H, W)`` of the logical tensor.
        cb: channel block (the engine's ``Tn``). Kept for ``plain`` too, where it only
            sizes :meth:`block_box`.
        kind: ``"reshaped"`` (``[B][ceil(C/cb)][H][W][cb]``) or ``"plain"`` (NCHW).
    """

    shape: tuple[int, int, int, int]
    cb: int
    kind: Kind = "reshaped"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape4("FmapLayout.shape", self.shape))
        object.__setattr__(self, "cb", _positive_int("FmapLayout.cb", self.cb))
        object.__setattr__(self, "kind", _kind("FmapLayout.kind", self.kind))

    # -- geometry ---------------------------------------------------------------------------
    @property
    def blocks(self) -> int:
        """Channel blocks per image, ``ceil(C / cb)``."""
        return _cdiv(self.shape[1], self.cb)

    @property
    def stored_channels(self) -> int:
        """Channels per image as stored: ``blocks * cb`` (reshaped) or ``C`` (plain)."""
        return self.blocks * self.cb if self.kind == "reshaped" else self.shape[1]

    @property
    def size(self) -> int:
        """Words of the whole buffer, padding lanes included."""
        b, _, h, w = self.shape
        return b * self.stored_channels * h * w

    @property
    def nbytes(self) -> int:
        return self.size * WORD_BYTES

    @property
    def image_words(self) -> int:
        """Words of one image (the batch stride)."""
        return self.size // self.shape[0]

    def _dims(self) -> tuple[int, ...]:
        b, c, h, w = self.shape
        if self.kind == "reshaped":
            return (b, self.blocks, h, w, self.cb)
        return (b, c, h, w)

    # -- addressing -------------------------------------------------------------------------
    def offset(self, b: int, c: int, h: int, w: int) -> int:
        """Word address of element ``(b, c, h, w)``.

        In the reshaped layout ``c`` may also name a padding lane (``C <= c < blocks*cb``).
        """
        bb, _, hh, ww = self.shape
        b = _index("b", b, bb)
        c = _index("c", c, self.stored_channels)
        h = _index("h", h, hh)
        w = _index("w", w, ww)
        if self.kind == "reshaped":
            return (((b * self.blocks + c // self.cb) * hh + h) * ww + w) * self.cb + c % self.cb
        return ((b * self.shape[1] + c) * hh + h) * ww + w

    def ranges(self, box: Sequence[int]) -> list[Range]:
        """Minimal contiguous word ranges covering ``box = (b, c0, c1, r0, r1, col0, col1)``.

        Intervals are half-open. In the reshaped layout the channel interval is rounded out
        to whole blocks (padding lanes included), since the DMA moves whole lane groups.
        """
        b, c0, c1, r0, r1, q0, q1 = self._check_box(box)
        if self.kind == "reshaped":
            k0, k1 = c0 // self.cb, _cdiv(c1, self.cb)
            return _box_runs(self._dims(), (b, k0, r0, q0, 0), (b + 1, k1, r1, q1, self.cb))
        return _box_runs(self._dims(), (b, c0, r0, q0), (b + 1, c1, r1, q1))

    def _check_box(self, box: Sequence[int]) -> tuple[int, ...]:
        try:
            items = tuple(box)
        except TypeError:
            raise ValueError(f"box must be (b, c0, c1, r0, r1, col0, col1), got {box!r}") from None
        if len(items) != 7:
            raise ValueError(f"box must be (b, c0, c1, r0, r1, col0, col1), got {box!r}")
        bb, cc, hh, ww = self.shape
        b = _index("box b", items[0], bb)
        c0, c1 = _interval("box channels", items[1], items[2], cc)
        r0, r1 = _interval("box rows", items[3], items[4], hh)
        q0, q1 = _interval("box columns", items[5], items[6], ww)
        return b, c0, c1, r0, r1, q0, q1

    def block_box(self, b: int, block: int, r0: int = 0, r1: int | None = None) -> tuple[int, ...]:
        """The box of channel block ``block`` of image ``b``, rows ``[r0, r1)``, full width.

        The channel interval is clipped to ``C``. This is the natural row-tile box of the
        engine's input; which rows a phase needs (halo, tile height) is the schedule's business.
        """
        bb, cc, hh, ww = self.shape
        b = _index("b", b, bb)
        block = _index("block", block, self.blocks)
        r1 = hh if r1 is None else r1
        c0 = block * self.cb
        box = (b, c0, min(c0 + self.cb, cc), r0, r1, 0, ww)
        return self._check_box(box)

    # -- data -------------------------------------------------------------------------------
    def pack(self, array: npt.ArrayLike) -> np.ndarray:
        """The DRAM image of ``array`` (shape ``(B, C, H, W)``): a new 1-D float32 buffer.

        Bit patterns are copied unchanged (non-float32 input is first converted to float32);
        padding lanes are ``+0.0``.
        """
        u = _to_words("array", array, self.shape)
        if self.kind == "plain":
            return u.reshape(-1).copy().view(np.float32)
        b, c, h, w = self.shape
        cp = self.blocks * self.cb
        if cp != c:
            padded = np.zeros((b, cp, h, w), dtype=np.uint32)
            padded[:, :c] = u
            u = padded
        out = u.reshape(b, self.blocks, self.cb, h, w).transpose(0, 1, 3, 4, 2)
        return np.array(out, order="C").reshape(-1).view(np.float32)

    def unpack(self, buf: npt.ArrayLike) -> np.ndarray:
        """Inverse of :meth:`pack`: a new float32 array ``(B, C, H, W)``; padding lanes dropped.

        ``buf`` is 1-D with :attr:`size` words, float32 or raw uint32.
        """
        u = _from_buf("buf", buf, self.size)
        b, c, h, w = self.shape
        if self.kind == "plain":
            return u.reshape(self.shape).copy().view(np.float32)
        full = u.reshape(b, self.blocks, h, w, self.cb).transpose(0, 1, 4, 2, 3)
        full = full.reshape(b, self.blocks * self.cb, h, w)
        return np.array(full[:, :c], order="C").view(np.float32)


# ---------------------------------------------------------------------------------------------
# weights


@dataclass(frozen=True)
class WeightLayout:
    """DRAM layout of a weight tensor of shape ``(M, N, KH, KW)`` (OIHW).

    Attributes:
        shape: ``(M, N, KH, KW)``: output channels, input channels, kernel rows, kernel columns.
        tm: output-channel tile (the engine's ``Tm``).
        tn: input-channel tile (the engine's ``Tn``).
        kind: ``"reshaped"`` (``[ceil(M/tm)][ceil(N/tn)][KH][KW][tm][tn]``) or ``"plain"`` (OIHW).
    """

    shape: tuple[int, int, int, int]
    tm: int
    tn: int
    kind: Kind = "reshaped"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape4("WeightLayout.shape", self.shape))
        object.__setattr__(self, "tm", _positive_int("WeightLayout.tm", self.tm))
        object.__setattr__(self, "tn", _positive_int("WeightLayout.tn", self.tn))
        object.__setattr__(self, "kind", _kind("WeightLayout.kind", self.kind))

    # -- geometry ---------------------------------------------------------------------------
    @property
    def m_tiles(self) -> int:
        return _cdiv(self.shape[0], self.tm)

    @property
    def n_tiles(self) -> int:
        return _cdiv(self.shape[1], self.tn)

    @property
    def tile_words(self) -> int:
        """Words of one (padded) ``tm x tn x KH x KW`` tile."""
        return self.tm * self.tn * self.shape[2] * self.shape[3]

    @property
    def stored_shape(self) -> tuple[int, int, int, int]:
        """``(M, N, KH, KW)`` as stored, with ``M``/``N`` padded to whole tiles if reshaped."""
        m, n, kh, kw = self.shape
        if self.kind == "reshaped":
            return (self.m_tiles * self.tm, self.n_tiles * self.tn, kh, kw)
        return (m, n, kh, kw)

    @property
    def size(self) -> int:
        """Words of the whole buffer, padding included."""
        return math.prod(self.stored_shape)

    @property
    def nbytes(self) -> int:
        return self.size * WORD_BYTES

    def _dims(self) -> tuple[int, ...]:
        m, n, kh, kw = self.shape
        if self.kind == "reshaped":
            return (self.m_tiles, self.n_tiles, kh, kw, self.tm, self.tn)
        return (m, n, kh, kw)

    # -- addressing -------------------------------------------------------------------------
    def offset(self, m: int, n: int, kh: int, kw: int) -> int:
        """Word address of weight ``(m, n, kh, kw)``.

        In the reshaped layout ``m``/``n`` may also name padding (up to whole tiles).
        """
        mm, nn, khh, kww = self.stored_shape
        m = _index("m", m, mm)
        n = _index("n", n, nn)
        kh = _index("kh", kh, khh)
        kw = _index("kw", kw, kww)
        if self.kind == "reshaped":
            tile = (m // self.tm) * self.n_tiles + n // self.tn
            return ((tile * khh + kh) * kww + kw) * self.tm * self.tn + (m % self.tm) * self.tn + n % self.tn
        return ((m * nn + n) * khh + kh) * kww + kw

    def ranges(self, box: Sequence[int]) -> list[Range]:
        """Minimal contiguous word ranges covering ``box = (m0, m1, n0, n1)`` and all kernel positions.

        In the reshaped layout the box is rounded out to whole tiles.
        """
        m0, m1, n0, n1 = self._check_box(box)
        _, _, kh, kw = self.shape
        if self.kind == "reshaped":
            lo = (m0 // self.tm, n0 // self.tn, 0, 0, 0, 0)
            hi = (_cdiv(m1, self.tm), _cdiv(n1, self.tn), kh, kw, self.tm, self.tn)
            return _box_runs(self._dims(), lo, hi)
        return _box_runs(self._dims(), (m0, n0, 0, 0), (m1, n1, kh, kw))

    def _check_box(self, box: Sequence[int]) -> tuple[int, int, int, int]:
        try:
            items = tuple(box)
        except TypeError:
            raise ValueError(f"box must be (m0, m1, n0, n1), got {box!r}") from None
        if len(items) != 4:
            raise ValueError(f"box must be (m0, m1, n0, n1), got {box!r}")
        m0, m1 = _interval("box output channels", items[0], items[1], self.shape[0])
        n0, n1 = _interval("box input channels", items[2], items[3], self.shape[1])
        return m0, m1, n0, n1

    def tile_box(self, mt: int, nt: int) -> tuple[int, int, int, int]:
        """The box ``(m0, m1, n0, n1)`` of tile ``(mt, nt)``, clipped to ``(M, N)``."""
        mt = _index("mt", mt, self.m_tiles)
        nt = _index("nt", nt, self.n_tiles)
        m0, n0 = mt * self.tm, nt * self.tn
        return (m0, min(m0 + self.tm, self.shape[0]), n0, min(n0 + self.tn, self.shape[1]))

    # -- data -------------------------------------------------------------------------------
    def pack(self, array: npt.ArrayLike) -> np.ndarray:
        """The DRAM image of ``array`` (shape ``(M, N, KH, KW)``): a new 1-D float32 buffer.

        Bit patterns are copied unchanged (non-float32 input is first converted to float32);
        padding is ``+0.0``.
        """
        u = _to_words("array", array, self.shape)
        if self.kind == "plain":
            return u.reshape(-1).copy().view(np.float32)
        m, n, kh, kw = self.shape
        mp, np_, _, _ = self.stored_shape
        if (mp, np_) != (m, n):
            padded = np.zeros((mp, np_, kh, kw), dtype=np.uint32)
            padded[:m, :n] = u
            u = padded
        t = u.reshape(self.m_tiles, self.tm, self.n_tiles, self.tn, kh, kw).transpose(0, 2, 4, 5, 1, 3)
        return np.array(t, order="C").reshape(-1).view(np.float32)

    def unpack(self, buf: npt.ArrayLike) -> np.ndarray:
        """Inverse of :meth:`pack`: a new float32 array ``(M, N, KH, KW)``; padding dropped.

        ``buf`` is 1-D with :attr:`size` words, float32 or raw uint32.
        """
        u = _from_buf("buf", buf, self.size)
        m, n, kh, kw = self.shape
        if self.kind == "plain":
            return u.reshape(self.shape).copy().view(np.float32)
        t = u.reshape(self.m_tiles, self.n_tiles, kh, kw, self.tm, self.tn).transpose(0, 4, 1, 5, 2, 3)
        full = t.reshape(self.stored_shape)
        return np.array(full[:m, :n], order="C").view(np.float32)


# ---------------------------------------------------------------------------------------------
# construction from a hardware configuration


def fmap_layout(cfg: HwConfig | str, shape: Sequence[int], kind: Kind = "reshaped") -> FmapLayout:
    """The layout of a ``(B, C, H, W)`` feature map or gradient on hardware ``cfg`` (``cb = cfg.tn``)."""
    return FmapLayout(tuple(shape), preset(cfg).tn, kind)  # type: ignore[arg-type]


def weight_layout(cfg: HwConfig | str, shape: Sequence[int], kind: Kind = "reshaped") -> WeightLayout:
    """The layout of ``(M, N, KH, KW)`` weights on hardware ``cfg`` (``cfg.tm x cfg.tn`` tiles)."""
    c = preset(cfg)
    return WeightLayout(tuple(shape), c.tm, c.tn, kind)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# AXI bursts and traffic


class Burst(NamedTuple):
    """One AXI4 INCR burst: byte address of its first beat and its length in beats."""

    addr: int
    beats: int


@dataclass(frozen=True)
class TrafficCount:
    """Bus traffic of a list of ranges.

    Attributes:
        bursts: AXI bursts (address phases).
        beats: data beats.
        bytes: bytes moved on the bus, ``beats * bus_bits / 8`` (whole beats, so it counts
            the partial-beat overhead of ranges that are not beat aligned).
    """

    bursts: int = 0
    beats: int = 0
    bytes: int = 0

    def __add__(self, other: TrafficCount) -> TrafficCount:
        if not isinstance(other, TrafficCount):
            return NotImplemented
        return TrafficCount(self.bursts + other.bursts, self.beats + other.beats, self.bytes + other.bytes)


def _beat_bytes(bus: HwConfig | str | int) -> int:
    if isinstance(bus, HwConfig | str):
        bits = preset(bus).bus_bits
    else:
        bits = _as_int("bus", bus)
    if bits < 32 or bits % 32:
        raise ValueError(
            f"bus must be a HwConfig, a preset name or a bus width in bits (multiple of 32), got {bus!r}"
        )
    return bits // 8


def axi_bursts(
    ranges: Iterable[Range],
    bus: HwConfig | str | int,
    *,
    base: int = 0,
    max_beats: int = 256,
    boundary: int = 4096,
) -> list[Burst]:
    """Split word ranges into AXI4 INCR bursts.

    Word ``w`` is at byte ``base + 4*w``. Each range is handled on its own, in the order
    given: it is widened to whole beats (a range that does not start or end on a beat boundary
    takes the whole beats covering it; the DMA masks the extra lanes with write strobes or
    drops them on reads), then cut into bursts of at most ``max_beats`` beats that never cross
    a ``boundary``-byte boundary (AXI4's 4 KiB rule). A burst ends early only at such a
    boundary or at the ``max_beats`` limit, so the split is the minimal one.

    Args:
        ranges: ``(start_word, n_words)`` pairs, ``n_words >= 1``.
        bus: a :class:`HwConfig` (or preset name) to take ``bus_bits`` from, or the width in bits.
        base: byte address of word 0; must be word aligned.
        max_beats: longest burst, 1..256 (AXI4 INCR).
        boundary: bytes; a positive multiple of the beat size.
    """
    beat = _beat_bytes(bus)
    base = _as_int("base", base)
    if base < 0 or base % WORD_BYTES:
        raise ValueError(f"base must be a non-negative multiple of {WORD_BYTES} bytes, got {base}")
    max_beats = _as_int("max_beats", max_beats)
    if not 1 <= max_beats <= 256:
        raise ValueError(f"max_beats must be in 1..256 (AXI4 INCR), got {max_beats}")
    boundary = _positive_int("boundary", boundary)
    if boundary % beat:
        raise ValueError(f"boundary ({boundary}) must be a multiple of the beat size ({beat} bytes)")
    out: list[Burst] = []
    for item in ranges:
        try:
            start, n = item
        except (TypeError, ValueError):
            raise ValueError(f"ranges must hold (start_word, n_words) pairs, got {item!r}") from None
        start = _as_int("ranges start_word", start)
        n = _positive_int("ranges n_words", n)
        if start < 0:
            raise ValueError(f"ranges start_word must be non-negative, got {start}")
        lo = base + start * WORD_BYTES
        hi = lo + n * WORD_BYTES
        addr = lo - lo % beat
        end = _cdiv(hi, beat) * beat
        while addr < end:
            stop = min(end, addr + max_beats * beat, (addr // boundary + 1) * boundary)
            out.append(Burst(addr, (stop - addr) // beat))
            addr = stop
    return out


def count_traffic(
    ranges: Iterable[Range],
    bus: HwConfig | str | int,
    *,
    base: int = 0,
    max_beats: int = 256,
    boundary: int = 4096,
) -> TrafficCount:
    """Bursts, beats and bus bytes of moving ``ranges`` (see :func:`axi_bursts`)."""
    bursts = axi_bursts(ranges, bus, base=base, max_beats=max_beats, boundary=boundary)
    beats = sum(b.beats for b in bursts)
    return TrafficCount(len(bursts), beats, beats * _beat_bytes(bus))
