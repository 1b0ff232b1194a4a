"""Tests of the DRAM layouts (eftrain.golden.layout): packing, addressing, ranges, AXI bursts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from eftrain.config import preset
from eftrain.golden.layout import (
    Burst,
    FmapLayout,
    TrafficCount,
    WeightLayout,
    axi_bursts,
    count_traffic,
    fmap_layout,
    merge_ranges,
    weight_layout,
)

SEED = 20220222
PRESETS = ["ci", "zcu102", "odd"]
KINDS = ["reshaped", "plain"]
SQUARE_PRESETS = ["ci", "zcu102"]  # Tm == Tn

# Bit patterns every round trip must carry unchanged.
SPECIAL_BITS = np.array(
    [
        0x80000000,  # -0.0
        0x00000000,  # +0.0
        0x00000001,  # smallest subnormal
        0x807FFFFF,  # largest negative subnormal
        0x7F800000,  # +inf
        0xFF800000,  # -inf
        0x7FC00000,  # canonical quiet NaN
        0x7FC12345,  # quiet NaN with payload
        0xFFC00001,  # negative quiet NaN with payload
        0x7F800001,  # signalling NaN
        0x7F7FFFFF,  # largest finite
    ],
    dtype=np.uint32,
)


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


def random_bits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 array of random bit patterns (NaNs, subnormals, ...) with the special values planted."""
    u = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)
    flat = u.reshape(-1)
    k = min(flat.size, SPECIAL_BITS.size)
    flat[rng.choice(flat.size, size=k, replace=False)] = SPECIAL_BITS[:k]
    return u.view(np.float32)


def ids(shape: tuple[int, ...]) -> np.ndarray:
    """float32 array whose bit patterns are 1, 2, 3, ... (0 is left for padding)."""
    n = int(np.prod(shape))
    return np.arange(1, n + 1, dtype=np.uint32).reshape(shape).view(np.float32)


def random_fmap_shape(rng: np.random.Generator, cb: int) -> tuple[int, int, int, int]:
    c = int(rng.choice([1, cb, 2 * cb + 1, 3 * cb - 1, int(rng.integers(1, 4 * cb + 2))]))
    return (int(rng.integers(1, 3)), c, int(rng.integers(1, 6)), int(rng.integers(1, 7)))


def random_weight_shape(rng: np.random.Generator, tm: int, tn: int) -> tuple[int, int, int, int]:
    m = int(rng.choice([1, tm, 2 * tm + 1, int(rng.integers(1, 3 * tm + 2))]))
    n = int(rng.choice([1, tn, 2 * tn - 1, int(rng.integers(1, 3 * tn + 2))]))
    k = int(rng.choice([1, 3, 5]))
    return (m, n, k, k)


# -- independent references: the layout definitions written as plain loops -----------------------


def ref_pack_fmap(x: np.ndarray, cb: int) -> np.ndarray:
    b_, c_, h_, w_ = x.shape
    u = bits(x)
    out = []
    for b in range(b_):
        for k in range(-(-c_ // cb)):
            for h in range(h_):
                for w in range(w_):
                    for lane in range(cb):
                        c = k * cb + lane
                        out.append(u[b, c, h, w] if c < c_ else 0)
    return np.array(out, dtype=np.uint32)


def ref_pack_weights(x: np.ndarray, tm: int, tn: int) -> np.ndarray:
    m_, n_, kh_, kw_ = x.shape
    u = bits(x)
    out = []
    for mt in range(-(-m_ // tm)):
        for nt in range(-(-n_ // tn)):
            for kh in range(kh_):
                for kw in range(kw_):
                    for i in range(tm):
                        for j in range(tn):
                            m, n = mt * tm + i, nt * tn + j
                            out.append(u[m, n, kh, kw] if m < m_ and n < n_ else 0)
    return np.array(out, dtype=np.uint32)


def covered_words(ranges: list[tuple[int, int]]) -> set[int]:
    return {w for s, n in ranges for w in range(s, s + n)}


def assert_minimal(ranges: list[tuple[int, int]], msg: str) -> None:
    """Ranges are non-empty, in increasing order, and neither overlap nor touch (else they'd merge)."""
    assert all(n >= 1 for _, n in ranges), msg
    for (s0, n0), (s1, _) in itertools.pairwise(ranges):
        assert s0 + n0 < s1, f"{msg}: ranges {(s0, n0)} and {s1} overlap or are adjacent"


# -- pack / unpack ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PRESETS)
def test_fmap_round_trip_bit_exact(name: str, kind: str) -> None:
    cfg = preset(name)
    rng = np.random.default_rng(SEED)
    for trial in range(12):
        shape = random_fmap_shape(rng, cfg.tn)
        lay = fmap_layout(cfg, shape, kind)
        msg = f"seed={SEED} trial={trial} preset={name} kind={kind} shape={shape}"
        x = random_bits(rng, shape)
        buf = lay.pack(x)
        assert buf.dtype == np.float32 and buf.ndim == 1 and buf.size == lay.size, msg
        y = lay.unpack(buf)
        assert y.dtype == np.float32 and y.shape == shape, msg
        np.testing.assert_array_equal(bits(y), bits(x), err_msg=msg)
        ref = ref_pack_fmap(x, cfg.tn) if kind == "reshaped" else bits(x).reshape(-1)
        np.testing.assert_array_equal(bits(buf), ref, err_msg=msg)
        # unpack also takes the raw uint32 words
        np.testing.assert_array_equal(bits(lay.unpack(bits(buf))), bits(x), err_msg=msg)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PRESETS)
def test_weight_round_trip_bit_exact(name: str, kind: str) -> None:
    cfg = preset(name)
    rng = np.random.default_rng(SEED + 1)
    for trial in range(12):
        shape = random_weight_shape(rng, cfg.tm, cfg.tn)
        lay = weight_layout(cfg, shape, kind)
        msg = f"seed={SEED + 1} trial={trial} preset={name} kind={kind} shape={shape}"
        x = random_bits(rng, shape)
        buf = lay.pack(x)
        assert buf.dtype == np.float32 and buf.ndim == 1 and buf.size == lay.size, msg
        if kind == "reshaped":
            assert lay.size == lay.m_tiles * lay.n_tiles * lay.tile_words, msg
        y = lay.unpack(buf)
        assert y.dtype == np.float32 and y.shape == shape, msg
        np.testing.assert_array_equal(bits(y), bits(x), err_msg=msg)
        ref = ref_pack_weights(x, cfg.tm, cfg.tn) if kind == "reshaped" else bits(x).reshape(-1)
        np.testing.assert_array_equal(bits(buf), ref, err_msg=msg)


@pytest.mark.parametrize("name", PRESETS)
def test_fmap_padding_lanes_are_positive_zero(name: str) -> None:
    cfg = preset(name)
    shape = (2, 2 * cfg.tn + 1, 3, 4)
    lay = fmap_layout(cfg, shape)
    x = np.full(shape, -0.0, dtype=np.float32)  # -0.0 must not leak into the padding
    buf = bits(lay.pack(x))
    pad = [lay.offset(b, c, h, w) for b in range(2) for c in range(shape[1], lay.stored_channels)
           for h in range(3) for w in range(4)]
    assert len(pad) == lay.size - x.size
    assert np.all(buf[pad] == 0), f"preset={name}: padding lanes not +0.0"
    real = np.ones(lay.size, dtype=bool)
    real[pad] = False
    assert np.all(buf[real] == 0x80000000)


@pytest.mark.parametrize("name", PRESETS)
def test_weight_padding_is_positive_zero(name: str) -> None:
    cfg = preset(name)
    shape = (cfg.tm + 1, 2 * cfg.tn - 1, 3, 3) if cfg.tn > 1 else (cfg.tm + 1, 3, 3, 3)
    lay = weight_layout(cfg, shape)
    x = np.full(shape, -0.0, dtype=np.float32)
    buf = bits(lay.pack(x))
    mp, np_, _, _ = lay.stored_shape
    every = itertools.product(range(mp), range(np_), range(3), range(3))
    pad = [lay.offset(m, n, kh, kw) for m, n, kh, kw in every if m >= shape[0] or n >= shape[1]]
    assert len(pad) == lay.size - x.size
    assert np.all(buf[pad] == 0)


def test_pack_returns_new_buffer_and_accepts_torch_and_float64() -> None:
    for lay in (FmapLayout((1, 3, 2, 2), cb=1), FmapLayout((1, 3, 2, 2), cb=4, kind="plain"),
                WeightLayout((2, 3, 1, 1), tm=1, tn=1)):
        x = np.arange(1, lay.size + 1, dtype=np.float32).reshape(lay.shape)
        buf = lay.pack(x)
        buf[:] = 7.0
        assert x[0, 0, 0, 0] == 1.0, f"{lay}: pack returned a view of its input"
        packed = lay.pack(x)
        y = lay.unpack(packed)
        y[...] = 7.0
        assert packed[0] == 1.0, f"{lay}: unpack returned a view of its buffer"
    lay = fmap_layout("ci", (2, 5, 3, 3))
    t = torch.randn(2, 5, 3, 3)
    np.testing.assert_array_equal(bits(lay.unpack(lay.pack(t))), bits(t.numpy()))
    x64 = np.linspace(-1, 1, 90).reshape(2, 5, 3, 3)
    np.testing.assert_array_equal(lay.unpack(lay.pack(x64)), x64.astype(np.float32))


def test_large_round_trips() -> None:
    """The zcu102 sizes the runtime moves every iteration: vectorized, so this is quick."""
    rng = np.random.default_rng(SEED + 2)
    cfg = preset("zcu102")
    for lay in (fmap_layout(cfg, (16, 64, 56, 56)), fmap_layout(cfg, (16, 65, 56, 56))):
        x = random_bits(rng, lay.shape)
        np.testing.assert_array_equal(bits(lay.unpack(lay.pack(x))), bits(x))
    lay_w = weight_layout(cfg, (512, 512, 3, 3))
    w = random_bits(rng, lay_w.shape)
    np.testing.assert_array_equal(bits(lay_w.unpack(lay_w.pack(w))), bits(w))


# -- offsets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PRESETS)
def test_offsets_agree_with_pack(name: str, kind: str) -> None:
    cfg = preset(name)
    rng = np.random.default_rng(SEED + 3)
    for _ in range(3):
        fl = fmap_layout(cfg, random_fmap_shape(rng, cfg.tn), kind)
        buf = bits(fl.pack(ids(fl.shape)))
        u = bits(ids(fl.shape))
        for b, c, h, w in itertools.product(*map(range, fl.shape)):
            assert buf[fl.offset(b, c, h, w)] == u[b, c, h, w], f"{fl} at {(b, c, h, w)}"
        wl = weight_layout(cfg, random_weight_shape(rng, cfg.tm, cfg.tn), kind)
        buf = bits(wl.pack(ids(wl.shape)))
        u = bits(ids(wl.shape))
        for m, n, kh, kw in itertools.product(*map(range, wl.shape)):
            assert buf[wl.offset(m, n, kh, kw)] == u[m, n, kh, kw], f"{wl} at {(m, n, kh, kw)}"


def test_offset_formulas_pinned() -> None:
    """Hand-computed addresses, so the definition cannot drift together with its implementation."""
    f = FmapLayout((2, 10, 3, 4), cb=4)  # [2][3][3][4][4]
    assert f.size == 2 * 3 * 3 * 4 * 4
    assert f.offset(1, 9, 2, 3) == ((((1 * 3 + 2) * 3 + 2) * 4 + 3) * 4 + 1) == 285
    assert f.offset(1, 11, 2, 3) == 287  # a padding lane
    assert FmapLayout((2, 10, 3, 4), cb=4, kind="plain").offset(1, 9, 2, 3) == ((1 * 10 + 9) * 3 + 2) * 4 + 3
    w = WeightLayout((5, 7, 3, 3), tm=2, tn=3)  # [3][3][3][3][2][3]
    assert w.size == 3 * 3 * 9 * 6 and w.tile_words == 54
    # m=3 -> mt 1, i 1; n=4 -> nt 1, j 1; tile 1*3+1 = 4
    assert w.offset(3, 4, 2, 1) == ((4 * 3 + 2) * 3 + 1) * 6 + 1 * 3 + 1 == 262
    assert WeightLayout((5, 7, 3, 3), 2, 3, "plain").offset(3, 4, 2, 1) == ((3 * 7 + 4) * 3 + 2) * 3 + 1


# -- ranges -----------------------------------------------------------------------------------------


def random_fmap_box(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...]:
    b_, c_, h_, w_ = shape

    def interval(n: int) -> tuple[int, int]:
        if rng.random() < 0.3:
            return 0, n
        a = int(rng.integers(0, n))
        return a, int(rng.integers(a + 1, n + 1))

    return (int(rng.integers(0, b_)), *interval(c_), *interval(h_), *interval(w_))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PRESETS)
def test_fmap_ranges_cover_box_exactly_and_minimally(name: str, kind: str) -> None:
    cfg = preset(name)
    rng = np.random.default_rng(SEED + 4)
    for trial in range(60):
        lay = fmap_layout(cfg, random_fmap_shape(rng, cfg.tn), kind)
        box = random_fmap_box(rng, lay.shape)
        b, c0, c1, r0, r1, q0, q1 = box
        if kind == "reshaped":  # rounded out to whole channel blocks, padding lanes included
            c0, c1 = c0 // cfg.tn * cfg.tn, -(-c1 // cfg.tn) * cfg.tn
        want = {lay.offset(b, c, h, w) for c in range(c0, c1) for h in range(r0, r1) for w in range(q0, q1)}
        got = lay.ranges(box)
        msg = f"seed={SEED + 4} trial={trial} {lay} box={box} ranges={got}"
        assert_minimal(got, msg)
        assert covered_words(got) == want, msg
        assert sum(n for _, n in got) == len(want), msg


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PRESETS)
def test_weight_ranges_cover_box_exactly_and_minimally(name: str, kind: str) -> None:
    cfg = preset(name)
    rng = np.random.default_rng(SEED + 5)
    for trial in range(60):
        lay = weight_layout(cfg, random_weight_shape(rng, cfg.tm, cfg.tn), kind)
        m_, n_, kh_, kw_ = lay.shape
        m0 = int(rng.integers(0, m_))
        m1 = int(rng.integers(m0 + 1, m_ + 1))
        n0 = int(rng.integers(0, n_))
        n1 = int(rng.integers(n0 + 1, n_ + 1))
        box = (m0, m1, n0, n1)
        if kind == "reshaped":
            m0, m1 = m0 // cfg.tm * cfg.tm, -(-m1 // cfg.tm) * cfg.tm
            n0, n1 = n0 // cfg.tn * cfg.tn, -(-n1 // cfg.tn) * cfg.tn
        want = {lay.offset(m, n, kh, kw) for m in range(m0, m1) for n in range(n0, n1)
                for kh in range(kh_) for kw in range(kw_)}
        got = lay.ranges(box)
        msg = f"seed={SEED + 5} trial={trial} {lay} box={box} ranges={got}"
        assert_minimal(got, msg)
        assert covered_words(got) == want, msg


# -- the data-reshaping claim: every tile is one burst --------------------------------------------


@pytest.mark.parametrize("name", SQUARE_PRESETS)
def test_every_tile_is_one_range_when_reshaped(name: str) -> None:
    """FP, BP and WU move three kinds of tile; with Tm == Tn each is one contiguous range.

    FP reads input row tiles (one channel block, rows with halo, full width) and weight tiles,
    writes output tiles (Tm channels). BP is the same with dY as input (weights flipped and
    swapped on chip, same DRAM tiles). WU reads X row tiles and dY row tiles and writes all
    weight tiles of one output-channel tile. The plain layouts need one range per channel.
    """
    cfg = preset(name)
    t = cfg.tn
    assert cfg.tm == t
    h = w = 12
    r0, r1 = 3, 9  # a row tile strictly inside the map (halo rows included)
    for c in (3 * t, 3 * t - 1):  # whole blocks, and a partial last block
        shape = (2, c, h, w)
        rs, pl = fmap_layout(cfg, shape), fmap_layout(cfg, shape, "plain")
        for b, blk in itertools.product(range(2), range(rs.blocks)):
            box = rs.block_box(b, blk, r0, r1)
            nch = box[2] - box[1]
            assert rs.ranges(box) == [(rs.offset(b, blk * t, r0, 0), (r1 - r0) * w * t)], box
            assert len(pl.ranges(box)) == nch, box  # one run of (r1-r0)*w per channel
            assert all(n == (r1 - r0) * w for _, n in pl.ranges(box))
            # a box narrower than the block still moves the whole block, in one range
            sub = (b, box[1], box[1] + 1, r0, r1, 0, w)
            assert rs.ranges(sub) == rs.ranges(box)
        # output tile of Tm channels (the output buffer's rows): one channel block
        for mt in range(rs.blocks):
            m0 = mt * cfg.tm
            box = (1, m0, min(m0 + cfg.tm, c), r0, r1, 0, w)
            assert len(rs.ranges(box)) == 1
            assert len(pl.ranges(box)) == box[2] - box[1]
        # whole rows of all channels of an image: one range either way
        assert len(rs.ranges((1, 0, c, 0, h, 0, w))) == 1
        assert len(pl.ranges((1, 0, c, 0, h, 0, w))) == 1
        # column-tiled boxes are not what reshaping optimises: one range per row (per channel if plain)
        assert len(rs.ranges((0, 0, t, r0, r1, 1, w - 1))) == r1 - r0
        assert len(pl.ranges((0, 0, t, r0, r1, 1, w - 1))) == t * (r1 - r0)

    for m, n in ((4 * t, 3 * t), (4 * t - 1, 3 * t - 2)):
        k = 3
        rs = weight_layout(cfg, (m, n, k, k))
        pl = weight_layout(cfg, (m, n, k, k), "plain")
        for mt, nt in itertools.product(range(rs.m_tiles), range(rs.n_tiles)):
            box = rs.tile_box(mt, nt)
            start = (mt * rs.n_tiles + nt) * rs.tile_words
            assert rs.ranges(box) == [(start, rs.tile_words)], box
            assert rs.tile_words == cfg.tm * cfg.tn * k * k
            assert len(pl.ranges(box)) == box[1] - box[0]  # one run of (n1-n0)*K*K per output channel
        for mt in range(rs.m_tiles):  # all input-channel tiles of one output tile (WU write-back)
            box = (mt * cfg.tm, min((mt + 1) * cfg.tm, m), 0, n)
            assert rs.ranges(box) == [(mt * rs.n_tiles * rs.tile_words, rs.n_tiles * rs.tile_words)]
            assert len(pl.ranges(box)) == 1  # OIHW rows with every n are contiguous too
        assert rs.ranges((0, m, 0, n)) == [(0, rs.size)]


def test_odd_preset_tiles() -> None:
    """Tm=3, Tn=5: input and weight tiles stay one range; an output tile may straddle two blocks."""
    cfg = preset("odd")
    rs = fmap_layout(cfg, (1, 12, 8, 8))
    assert len(rs.ranges(rs.block_box(0, 1, 2, 6))) == 1
    assert len(rs.ranges((0, 0, 3, 2, 6, 0, 8))) == 1  # m-tile 0 inside block 0
    assert len(rs.ranges((0, 3, 6, 2, 6, 0, 8))) == 2  # m-tile 1 straddles blocks 0 and 1
    assert len(rs.ranges((0, 3, 6, 0, 8, 0, 8))) == 1  # ... unless the rows are whole
    wl = weight_layout(cfg, (7, 11, 3, 3))
    for mt, nt in itertools.product(range(wl.m_tiles), range(wl.n_tiles)):
        assert wl.ranges(wl.tile_box(mt, nt)) == [((mt * wl.n_tiles + nt) * 135, 135)]


def test_reshaped_tile_needs_fewer_bursts() -> None:
    cfg = preset("zcu102")
    box = (0, 16, 32, 10, 20, 0, 56)
    rs = count_traffic(fmap_layout(cfg, (4, 64, 56, 56)).ranges(box), cfg)
    pl = count_traffic(fmap_layout(cfg, (4, 64, 56, 56), "plain").ranges(box), cfg)
    assert rs.beats == pl.beats == 16 * 10 * 56 // 4
    assert rs.bursts < pl.bursts


def test_merge_ranges() -> None:
    assert merge_ranges([(10, 2), (0, 4), (4, 2), (12, 1), (20, 5), (22, 1)]) == [(0, 6), (10, 3), (20, 5)]
    assert merge_ranges([]) == []


# -- AXI bursts -------------------------------------------------------------------------------------


def test_axi_bursts_example() -> None:
    # words 1000..3999 on a 128-bit bus: bytes 4000..15999
    assert axi_bursts([(1000, 3000)], "ci") == [(4000, 6), (4096, 256), (8192, 256), (12288, 232)]
    assert count_traffic([(1000, 3000)], 128) == TrafficCount(bursts=4, beats=750, bytes=12000)
    # unaligned ends take whole beats: words 1..2 and 3..5 -> beats 0 and 0..1
    assert axi_bursts([(1, 2), (3, 3)], 128) == [Burst(0, 1), Burst(0, 2)]
    assert axi_bursts([(0, 4)], 128, base=8) == [(0, 2)]
    assert axi_bursts([(0, 1024)], 32, max_beats=16, boundary=64)[:2] == [(0, 16), (64, 16)]
    assert TrafficCount(1, 2, 32) + TrafficCount(3, 4, 64) == TrafficCount(4, 6, 96)


def test_axi_bursts_property() -> None:
    rng = np.random.default_rng(SEED + 6)
    for trial in range(400):
        bus = [32, 64, 128, 256, 512, preset("ci"), "zcu102"][int(rng.integers(0, 7))]
        beat = (bus if isinstance(bus, int) else preset(bus).bus_bits) // 8
        max_beats = int(rng.choice([256, 16, 1, int(rng.integers(1, 257))]))
        boundary = int(rng.choice([4096, 1024])) if beat <= 64 else 4096
        base = int(rng.integers(0, 1 << 20)) * 4
        count = int(rng.integers(1, 5))
        ranges = [(int(rng.integers(0, 1 << 16)), int(rng.integers(1, 5000))) for _ in range(count)]
        msg = f"seed={SEED + 6} trial={trial} bus={bus} max_beats={max_beats} base={base} ranges={ranges}"
        kw = dict(base=base, max_beats=max_beats, boundary=boundary)
        everything: list[Burst] = []
        for start, n in ranges:
            bursts = axi_bursts([(start, n)], bus, **kw)
            everything += bursts
            lo, hi = base + 4 * start, base + 4 * (start + n)
            assert bursts[0].addr == lo - lo % beat, msg
            for i, (addr, beats) in enumerate(bursts):
                end = addr + beats * beat
                assert addr % beat == 0 and 1 <= beats <= max_beats, msg
                assert addr // boundary == (end - 1) // boundary, f"{msg}: burst {(addr, beats)} crosses"
                if i + 1 < len(bursts):
                    assert bursts[i + 1].addr == end, msg  # contiguous, no gaps or overlaps
                    assert beats == max_beats or end % boundary == 0, f"{msg}: split not minimal"
                else:
                    assert end >= hi and end - hi < beat, msg  # whole beats, no more
        assert axi_bursts(ranges, bus, **kw) == everything, msg
        tc = count_traffic(ranges, bus, **kw)
        assert tc == TrafficCount(len(everything), sum(b.beats for b in everything),
                                  beat * sum(b.beats for b in everything)), msg


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FmapLayout((1, 2, 3), cb=4), "FmapLayout.shape"),
        (lambda: FmapLayout((1, 0, 3, 3), cb=4), r"FmapLayout.shape\[1\]"),
        (lambda: FmapLayout((1, 2.5, 3, 3), cb=4), r"FmapLayout.shape\[1\]"),
        (lambda: FmapLayout((1, 2, 3, 3), cb=0), "FmapLayout.cb"),
        (lambda: FmapLayout((1, 2, 3, 3), cb=4, kind="nhwc"), "FmapLayout.kind"),
        (lambda: WeightLayout((4, 4, 3), tm=4, tn=4), "WeightLayout.shape"),
        (lambda: WeightLayout((4, 4, 3, 3), tm=-1, tn=4), "WeightLayout.tm"),
        (lambda: WeightLayout((4, 4, 3, 3), tm=4, tn=True), "WeightLayout.tn"),
        (lambda: fmap_layout("nope", (1, 2, 3, 3)), "unknown preset"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).pack(np.zeros((1, 2, 3, 4))), "array"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).unpack(np.zeros(10, np.float32)), "buf"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).unpack(np.zeros(36, np.float64)), "buf"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).ranges((0, 0, 2, 0, 3, 0)), "box"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).ranges((1, 0, 2, 0, 3, 0, 3)), "box b"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).ranges((0, 0, 3, 0, 3, 0, 3)), "box channels"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).ranges((0, 0, 2, 2, 2, 0, 3)), "box rows"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).ranges((0, 0, 2, 0, 3, -1, 3)), "box columns"),
        (lambda: FmapLayout((1, 2, 3, 3), 4).offset(0, 4, 0, 0), "c="),
        (lambda: FmapLayout((1, 2, 3, 3), 4, "plain").offset(0, 2, 0, 0), "c="),
        (lambda: FmapLayout((1, 2, 3, 3), 4).block_box(0, 1), "block"),
        (lambda: WeightLayout((4, 4, 3, 3), 4, 4).ranges((0, 5, 0, 4)), "box output channels"),
        (lambda: WeightLayout((4, 4, 3, 3), 4, 4).ranges((0, 4, 3, 3)), "box input channels"),
        (lambda: WeightLayout((4, 4, 3, 3), 4, 4).offset(0, 0, 3, 0), "kh="),
        (lambda: WeightLayout((4, 4, 3, 3), 4, 4).tile_box(1, 0), "mt="),
        (lambda: WeightLayout((4, 4, 3, 3), 4, 4).pack(np.zeros((4, 4, 3))), "array"),
        (lambda: axi_bursts([(0, 4)], 100), "bus"),
        (lambda: axi_bursts([(0, 4)], 128, max_beats=257), "max_beats"),
        (lambda: axi_bursts([(0, 4)], 128, boundary=1000), "boundary"),
        (lambda: axi_bursts([(0, 4)], 128, base=2), "base"),
        (lambda: axi_bursts([(0, 0)], 128), "n_words"),
        (lambda: axi_bursts([(-1, 4)], 128), "start_word"),
        (lambda: axi_bursts([(0, 4, 1)], 128), "ranges"),
    ],
)
def test_validation_names_the_argument(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
