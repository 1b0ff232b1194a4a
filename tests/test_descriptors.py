"""Descriptor format and validation rules (eftrain.descriptors), tiling rules (eftrain.tiling)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eftrain.config import HwConfig, preset
from eftrain.descriptors import (
    DESC_WORDS,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    decode,
    default_tiling,
    encode_program,
    validate,
    with_tiling,
)
from eftrain.golden.layout import fmap_layout, weight_layout

WINDOW = (0x1000_0000, 0x2000_0000)
HUGE_WINDOW = (0, 1 << 62)  # for layers whose tensors do not fit WINDOW (only the tiling is under test)
PHASE_OPS = {"fp": Opcode.CONV_FP, "bp": Opcode.CONV_BP, "wu": Opcode.CONV_WU}
FC_OPS = {"fp": Opcode.FC_FP, "bp": Opcode.FC_BP, "wu": Opcode.FC_WU}
# good_conv's tiling: 4 of its 9 output rows (FP, WU: OH = 9; BP: H = 9), one reduction tile per
# chunk. Legal in every preset and phase (input tile <= 11 x 9 words, output 4 x 7, weights 9 x L).
GOOD_TILING = (4, 1)


def good_conv(**kw) -> Descriptor:
    """A legal 3x3 FP layer (2 x 6 x 9 x 7 -> 8 channels, padding 1) with GOOD_TILING, then ``kw``."""
    base = dict(opcode=Opcode.CONV_FP, batch=2, m=8, n=6, h=9, w=7, k=3, stride=1, pad=1, flags=Flag.BIAS,
                src0=0x1000_0000, src1=0x1010_0000, src2=0x1020_0000, dst=0x1030_0000,
                tr=GOOD_TILING[0], chunk=GOOD_TILING[1])
    base.update(kw)
    return Descriptor(**base)


def far_apart(d: Descriptor) -> Descriptor:
    """``d`` with its tensors 2^40 bytes apart (any layer fits HUGE_WINDOW without overlaps)."""
    return dataclasses.replace(d, src0=1 << 40, src1=2 << 40, src2=3 << 40, dst=4 << 40)


# ------------------------------------------------------------------------------ independent formulas
# The geometry table of eftrain/tiling.py's docstring, written out again by hand so the tests do
# not check eftrain.tiling against itself.
def out_dims(h: int, w: int, k: int, s: int, p: int) -> tuple[int, int]:
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def rows_of(phase: str, d: Descriptor) -> int:
    if (d.h, d.w, d.k, d.stride, d.pad) == (1, 1, 1, 1, 0):
        return 1  # folded: one image of 1 x batch pixels
    return d.h if phase == "bp" else out_dims(d.h, d.w, d.k, d.stride, d.pad)[0]


def red_tiles_of(phase: str, d: Descriptor, cfg: HwConfig) -> int:
    return -(-(d.m if phase == "bp" else d.n) // cfg.tn)


def in_words(phase: str, d: Descriptor) -> int:
    if (d.h, d.w, d.k, d.stride, d.pad) == (1, 1, 1, 1, 0):
        return d.batch
    if phase == "bp":
        return (d.tr + d.k - 1) * (d.w + d.k - 1)
    return ((d.tr - 1) * d.stride + d.k) * (d.w + 2 * d.pad)


def out_words(phase: str, d: Descriptor) -> int:
    if (d.h, d.w, d.k, d.stride, d.pad) == (1, 1, 1, 1, 0):
        return d.tr * d.batch
    return d.tr * (d.w if phase == "bp" else out_dims(d.h, d.w, d.k, d.stride, d.pad)[1])


def w_words(phase: str, d: Descriptor, cfg: HwConfig) -> int:
    return d.chunk * d.k * d.k * (cfg.acc_interleave if phase == "wu" else 1)


# ------------------------------------------------------------------------------ format
def test_encode_decode_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        def r(bits: int) -> int:
            return int(rng.integers(0, 1 << bits))

        d = Descriptor(
            opcode=r(8), flags=r(8), batch=r(16), m=r(16), n=r(16), h=r(16), w=r(16), k=r(4), stride=r(4),
            pad=r(4), src0=r(63), src1=r(63), src2=r(63), dst=r(63), tr=r(16), chunk=r(16),
            reserved=(r(16), r(4), r(32), r(32), r(32)),
        )
        words = d.encode()
        assert words.dtype == np.uint32 and words.shape == (DESC_WORDS,)
        assert decode(words) == d
    # the extremes of the tiling fields
    for tr, chunk in ((0xFFFF, 0xFFFF), (0xFFFF, 0), (0, 0xFFFF), (1, 1)):
        d = good_conv(tr=tr, chunk=chunk)
        assert decode(d.encode()) == d


def test_field_layout_by_hand():
    d = good_conv(pad=2, k=5, tr=0x1234, chunk=0xBEEF)
    w = d.encode()
    assert w[0] == 0x0101  # opcode 1, flags BIAS
    assert w[1] == 2 | (5 << 16) | (1 << 20) | (2 << 24)
    assert w[2] == 8 | (6 << 16) and w[3] == 9 | (7 << 16)
    assert (w[4], w[5], w[10], w[11]) == (0x1000_0000, 0, 0x1030_0000, 0)
    assert w[12] == 0x1234 | (0xBEEF << 16)  # tr in bits 15:0, chunk in bits 31:16
    assert not w[13:].any()
    # the reserved tuple: word0[31:16], word1[31:28], words 13..15
    r = good_conv(reserved=(0xABCD, 0x9, 0x11, 0x22, 0x33)).encode()
    assert r[0] >> 16 == 0xABCD and r[1] >> 28 == 0x9 and list(r[13:]) == [0x11, 0x22, 0x33]
    assert r[12] == GOOD_TILING[0] | (GOOD_TILING[1] << 16)
    prog = encode_program([d, d])
    assert prog.shape == (2 * DESC_WORDS,) and np.array_equal(prog[:16], prog[16:])


def test_field_overflow_is_a_value_error():
    with pytest.raises(ValueError, match="batch"):
        good_conv(batch=1 << 16).encode()
    with pytest.raises(ValueError, match="src0"):
        good_conv(src0=1 << 64).encode()
    with pytest.raises(ValueError, match="tr"):
        good_conv(tr=1 << 16).encode()
    with pytest.raises(ValueError, match="chunk"):
        good_conv(chunk=1 << 16).encode()
    with pytest.raises(ValueError, match="chunk"):
        good_conv(chunk=-1).encode()
    for bad in ((0, 0, 0, 0, 0, 0), (0, 0, 0, 0)):  # the old 6-entry tuple, too short
        with pytest.raises(ValueError, match="reserved"):
            good_conv(reserved=bad).encode()


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
def test_a_good_descriptor_passes(cfg):
    for op in (Opcode.CONV_FP, Opcode.CONV_BP, Opcode.CONV_WU):
        flags = Flag.BIAS if op == Opcode.CONV_FP else 0
        d = good_conv(opcode=op, flags=flags)
        assert validate(d, cfg, WINDOW) == ErrCode.NONE
        assert validate(with_tiling(d, cfg, default_tiling(d, cfg)), cfg, WINDOW) == ErrCode.NONE
    fc = Descriptor(opcode=Opcode.FC_FP, batch=4, m=10, n=64, src0=0x1000_0000, src1=0x1001_0000,
                    dst=0x1002_0000, tr=1, chunk=1)
    assert validate(fc, cfg, WINDOW) == ErrCode.NONE


def test_untiled_descriptor_is_rejected():
    """tr = chunk = 0 (the dataclass default: no tiling chosen) is BAD_FIELD, not accepted."""
    d = good_conv(tr=0, chunk=0)
    assert validate(d, "ci", WINDOW) == ErrCode.BAD_FIELD
    assert validate(with_tiling(d, "ci", GOOD_TILING), "ci", WINDOW) == ErrCode.NONE


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (dict(opcode=0x07), ErrCode.BAD_OPCODE),
        (dict(flags=0x04), ErrCode.BAD_OPCODE),
        (dict(opcode=Opcode.CONV_WU), ErrCode.BAD_OPCODE),  # BIAS on a WU
        (dict(reserved=(1, 0, 0, 0, 0)), ErrCode.BAD_OPCODE),  # word0[31:16]
        (dict(reserved=(0, 8, 0, 0, 0)), ErrCode.BAD_OPCODE),  # word1[31:28]
        (dict(reserved=(0, 0, 1, 0, 0)), ErrCode.BAD_OPCODE),  # word 13
        (dict(reserved=(0, 0, 0, 1, 0)), ErrCode.BAD_OPCODE),  # word 14
        (dict(reserved=(0, 0, 0, 0, 1 << 31)), ErrCode.BAD_OPCODE),  # word 15
        (dict(batch=0), ErrCode.ZERO_DIM),
        (dict(n=0), ErrCode.ZERO_DIM),
        (dict(w=0), ErrCode.ZERO_DIM),
        (dict(k=0), ErrCode.BAD_KERNEL),
        (dict(k=8, pad=0), ErrCode.BAD_KERNEL),
        (dict(h=2, pad=0), ErrCode.BAD_KERNEL),  # 3x3 kernel on a 2-row map
        (dict(stride=0), ErrCode.BAD_STRIDE),
        (dict(stride=5), ErrCode.BAD_STRIDE),
        (dict(pad=3), ErrCode.BAD_PADDING),
        (dict(tr=0), ErrCode.BAD_FIELD),
        (dict(tr=10), ErrCode.BAD_FIELD),  # 9 output rows
        (dict(chunk=0), ErrCode.BAD_FIELD),
        (dict(chunk=2), ErrCode.BAD_FIELD),  # zcu102: 6 input channels are one reduction tile
        (dict(tr=0xFFFF, chunk=0xFFFF), ErrCode.BAD_FIELD),
        (dict(w=60000), ErrCode.BUFFER_OVERFLOW),
        (dict(w=60000, tr=1), ErrCode.BUFFER_OVERFLOW),  # even one output row: 3 x 60002 input words
        (dict(src1=0x1010_0004), ErrCode.MISALIGNED_ADDR),
        (dict(dst=0x0FFF_FFF0), ErrCode.OUT_OF_WINDOW),
        (dict(dst=0x1FFF_FF00), ErrCode.OUT_OF_WINDOW),  # starts inside, ends beyond the limit
    ],
)
def test_each_rule_reports_its_code(change, code):
    assert validate(good_conv(**change), "zcu102", WINDOW) == code


def test_fc_must_be_1x1():
    fc = Descriptor(opcode=Opcode.FC_BP, batch=4, m=10, n=64, src0=0x1000_0000, src1=0x1001_0000,
                    dst=0x1002_0000, tr=1, chunk=1)
    assert validate(fc, "ci", WINDOW) == ErrCode.NONE
    assert validate(dataclasses.replace(fc, h=2), "ci", WINDOW) == ErrCode.DIM_TOO_LARGE


def test_checks_run_in_the_documented_order():
    # zero dimension and a misaligned, out-of-window address: the dimension is reported
    d = good_conv(batch=0, src0=3)
    assert validate(d, "ci", WINDOW) == ErrCode.ZERO_DIM
    # bad stride and out of window: the stride is reported
    assert validate(good_conv(stride=9, dst=0), "ci", WINDOW) == ErrCode.BAD_STRIDE
    # every earlier rule comes before the tiling fields
    assert validate(good_conv(reserved=(0, 0, 1, 0, 0), tr=0), "ci", WINDOW) == ErrCode.BAD_OPCODE
    assert validate(good_conv(n=0, tr=0), "ci", WINDOW) == ErrCode.ZERO_DIM
    assert validate(good_conv(opcode=Opcode.FC_FP, chunk=0), "ci", WINDOW) == ErrCode.DIM_TOO_LARGE
    assert validate(good_conv(k=0, tr=0), "ci", WINDOW) == ErrCode.BAD_KERNEL
    assert validate(good_conv(stride=0, chunk=0), "ci", WINDOW) == ErrCode.BAD_STRIDE
    assert validate(good_conv(pad=3, tr=0, chunk=0), "ci", WINDOW) == ErrCode.BAD_PADDING
    # tiling fields before buffer fit: an out-of-range tr on a layer no row tile fits
    assert validate(good_conv(w=60000, tr=0), "ci", WINDOW) == ErrCode.BAD_FIELD
    assert validate(good_conv(w=60000, chunk=3), "ci", WINDOW) == ErrCode.BAD_FIELD
    # tiling before alignment and window
    assert validate(good_conv(tr=10, src1=0x1010_0004, dst=0), "ci", WINDOW) == ErrCode.BAD_FIELD
    assert validate(good_conv(w=60000, src1=0x1010_0004, dst=0), "ci", WINDOW) == ErrCode.BUFFER_OVERFLOW
    # alignment before window
    assert validate(good_conv(src1=0x1010_0004, dst=0), "ci", WINDOW) == ErrCode.MISALIGNED_ADDR


def test_window_bounds_are_exact():
    cfg = preset("ci")
    d = good_conv(opcode=Opcode.CONV_BP, flags=0)
    dx_bytes = fmap_layout(cfg, (d.batch, d.n, d.h, d.w)).nbytes
    dy_bytes = fmap_layout(cfg, (d.batch, d.m, d.oh, d.ow)).nbytes
    w_bytes = weight_layout(cfg, (d.m, d.n, d.k, d.k)).nbytes
    base = 0x4000
    d = dataclasses.replace(d, src0=base, src1=base + dy_bytes, dst=base + dy_bytes + w_bytes)
    end = base + dy_bytes + w_bytes + dx_bytes
    assert validate(d, cfg, (base, end)) == ErrCode.NONE
    assert validate(d, cfg, (base, end - 16)) == ErrCode.OUT_OF_WINDOW
    assert validate(d, cfg, (base + 16, end)) == ErrCode.OUT_OF_WINDOW


# ------------------------------------------------------------------------------ tiling rules
# A layer with every geometric term distinct: stride 2, padding 1, H != W, several reduction
# tiles in every preset (N = 23, M = 19).
TILING_LAYER = dict(batch=2, m=19, n=23, h=11, w=13, k=3, stride=2, pad=1)


def tiling_layer(phase: str, **kw) -> Descriptor:
    return far_apart(Descriptor(opcode=PHASE_OPS[phase], **{**TILING_LAYER, **kw}))


@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
@pytest.mark.parametrize("phase", ["fp", "bp", "wu"])
def test_tiling_field_ranges(cfg, phase):
    """Rule 1 (BAD_FIELD): tr in 1 .. rows of the output map, chunk in 1 .. reduction tiles;
    both ends of each range are legal (the buffers are large enough here)."""
    c = preset(cfg)
    d = tiling_layer(phase)
    rows, red = rows_of(phase, d), red_tiles_of(phase, d, c)
    assert rows == (11 if phase == "bp" else 6) and red == -(-(19 if phase == "bp" else 23) // c.tn)
    for tr in (1, rows):
        for chunk in (1, red):
            got = validate(dataclasses.replace(d, tr=tr, chunk=chunk), c, HUGE_WINDOW)
            assert got == ErrCode.NONE, (tr, chunk)
    for tr, chunk in ((0, 1), (rows + 1, 1), (0xFFFF, 1), (1, 0), (1, red + 1), (1, 0xFFFF), (0, 0),
                      (rows + 1, red + 1)):
        got = validate(dataclasses.replace(d, tr=tr, chunk=chunk), c, HUGE_WINDOW)
        assert got == ErrCode.BAD_FIELD, (tr, chunk)


@pytest.mark.parametrize("phase", ["fp", "bp", "wu"])
@pytest.mark.parametrize("buffer", ["in", "out", "w"])
def test_buffer_overflow_exactly_at_limit_plus_one(phase, buffer):
    """Rule 2 (BUFFER_OVERFLOW): a tiling that needs exactly the buffer's depth is legal, one word
    more (the same tiling with a buffer one word shallower) is not. Word counts by hand: input
    tile FP/WU ((tr-1)*S + K) * (W + 2P), BP (tr + K - 1) * (W + K - 1); output tile tr * OW
    (FP/WU), tr * W (BP); weight chunk chunk * K*K, WU chunk * K*K * L."""
    base = preset("ci")
    d = dataclasses.replace(tiling_layer(phase), tr=3, chunk=2)
    need = {"in": in_words(phase, d), "out": out_words(phase, d), "w": w_words(phase, d, base)}
    expect = {  # the hand formulas, evaluated by hand for this layer
        "fp": {"in": 7 * 15, "out": 3 * 7, "w": 2 * 9},
        "bp": {"in": 5 * 15, "out": 3 * 13, "w": 2 * 9},
        "wu": {"in": 7 * 15, "out": 3 * 7, "w": 2 * 9 * base.acc_interleave},
    }[phase]
    assert need == expect
    field = {"in": "in_buf_depth", "out": "out_buf_depth", "w": "w_buf_depth"}[buffer]
    roomy = base.with_(in_buf_depth=10_000, out_buf_depth=10_000, w_buf_depth=10_000)
    at_limit = roomy.with_(**{field: need[buffer]})
    below = roomy.with_(**{field: need[buffer] - 1})
    assert validate(d, at_limit, HUGE_WINDOW) == ErrCode.NONE
    assert validate(d, below, HUGE_WINDOW) == ErrCode.BUFFER_OVERFLOW
    # and one row / one reduction tile less fits the shallower buffer again
    smaller = dataclasses.replace(d, chunk=1) if buffer == "w" else dataclasses.replace(d, tr=2)
    assert validate(smaller, below, HUGE_WINDOW) == ErrCode.NONE


def test_wu_weight_chunk_counts_the_l_partial_sums():
    """zcu102 (w_buf_depth 1152, L = 4), 3x3 kernels: an FP/BP chunk holds 128 reduction tiles,
    a WU chunk 1152 / (9 * 4) = 32."""
    cfg = preset("zcu102")
    assert (cfg.w_buf_depth, cfg.acc_interleave) == (1152, 4)
    layer = dict(TILING_LAYER, n=200 * cfg.tn, m=200 * cfg.tn)  # 200 reduction tiles in every phase
    for phase, limit in (("fp", 128), ("bp", 128), ("wu", 32)):
        d = tiling_layer(phase, **layer)
        assert validate(dataclasses.replace(d, tr=1, chunk=limit), cfg, HUGE_WINDOW) == ErrCode.NONE, phase
        got = validate(dataclasses.replace(d, tr=1, chunk=limit + 1), cfg, HUGE_WINDOW)
        assert got == ErrCode.BUFFER_OVERFLOW, phase
    # the old minimum-buffer rule is gone: K = 7 FP fits a chunk of one tile (49 words), WU too
    # (196), and a 7x7 layer whose WU needs 49 * L > w_buf_depth is BUFFER_OVERFLOW in WU only
    small = preset("ci").with_(w_buf_depth=100)
    for phase, code in (("fp", ErrCode.NONE), ("bp", ErrCode.NONE), ("wu", ErrCode.BUFFER_OVERFLOW)):
        d = tiling_layer(phase, k=7, pad=3, tr=1, chunk=1)
        assert validate(d, small, HUGE_WINDOW) == code, phase


@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
@pytest.mark.parametrize("phase", ["fp", "bp", "wu"])
def test_folded_fc(cfg, phase):
    """FC layers fold the batch into the width: one output row (tr = 1 only), batch pixels wide;
    batch <= out_buf_depth is legal, out_buf_depth + 1 is BUFFER_OVERFLOW."""
    c = preset(cfg)
    assert c.out_buf_depth < c.in_buf_depth  # the output tile is the binding limit below
    fc = far_apart(Descriptor(opcode=FC_OPS[phase], batch=5, m=2 * c.tm + 1, n=3 * c.tn + 2, tr=1, chunk=1))
    red = red_tiles_of(phase, fc, c)
    assert validate(fc, c, HUGE_WINDOW) == ErrCode.NONE
    assert validate(dataclasses.replace(fc, chunk=red), c, HUGE_WINDOW) == ErrCode.NONE
    assert validate(dataclasses.replace(fc, chunk=red + 1), c, HUGE_WINDOW) == ErrCode.BAD_FIELD
    assert validate(dataclasses.replace(fc, tr=2), c, HUGE_WINDOW) == ErrCode.BAD_FIELD  # not the batch
    assert validate(dataclasses.replace(fc, tr=0), c, HUGE_WINDOW) == ErrCode.BAD_FIELD
    edge = dataclasses.replace(fc, batch=c.out_buf_depth)
    assert validate(edge, c, HUGE_WINDOW) == ErrCode.NONE
    over = dataclasses.replace(fc, batch=c.out_buf_depth + 1)
    assert validate(over, c, HUGE_WINDOW) == ErrCode.BUFFER_OVERFLOW
    too_wide = dataclasses.replace(fc, batch=c.in_buf_depth + 1)
    assert validate(too_wide, c, HUGE_WINDOW) == ErrCode.BUFFER_OVERFLOW
    # the input tile alone: with a deep output buffer, batch = in_buf_depth + 1 still overflows
    deep_out = c.with_(out_buf_depth=4 * c.in_buf_depth)
    assert validate(dataclasses.replace(fc, batch=c.in_buf_depth), deep_out, HUGE_WINDOW) == ErrCode.NONE
    got = validate(dataclasses.replace(fc, batch=c.in_buf_depth + 1), deep_out, HUGE_WINDOW)
    assert got == ErrCode.BUFFER_OVERFLOW
    # a 1x1 convolution on a 1x1 map folds the same way; with stride 2 it does not (one row of
    # one pixel per image, whatever the batch)
    conv = dataclasses.replace(over, opcode=PHASE_OPS[phase], flags=0)
    assert validate(conv, c, HUGE_WINDOW) == ErrCode.BUFFER_OVERFLOW
    assert validate(dataclasses.replace(conv, stride=2), c, HUGE_WINDOW) == ErrCode.NONE


# Layers for the tiling helpers: VGG-like, odd shapes, every K and stride, FC.
SPREAD = [
    dict(batch=16, m=64, n=3, h=224, w=224, k=3, stride=1, pad=1),
    dict(batch=16, m=512, n=512, h=14, w=14, k=3, stride=1, pad=1),
    dict(batch=8, m=128, n=64, h=56, w=56, k=3, stride=1, pad=1),
    dict(batch=4, m=64, n=3, h=227, w=227, k=7, stride=4, pad=3),
    dict(batch=3, m=17, n=29, h=31, w=9, k=5, stride=2, pad=2),
    dict(batch=1, m=1, n=1, h=1, w=1, k=1, stride=1, pad=0),
    dict(batch=2, m=7, n=5, h=3, w=40, k=2, stride=3, pad=0),
    dict(batch=5, m=33, n=70, h=8, w=8, k=1, stride=1, pad=0),
    dict(batch=64, m=10, n=4096, h=1, w=1, k=1, stride=1, pad=0),
    dict(batch=200, m=1000, n=513, h=1, w=1, k=1, stride=1, pad=0),
    dict(batch=2, m=9, n=9, h=1, w=1, k=1, stride=4, pad=0),
]


def fits(d: Descriptor, cfg: HwConfig) -> bool:
    """Whether any tiling of ``d`` fits the buffers (the smallest one does)."""
    return validate(dataclasses.replace(d, tr=1, chunk=1), cfg, HUGE_WINDOW) == ErrCode.NONE


def _spread(cfg: str) -> list[tuple[str, Descriptor]]:
    out = []
    for layer in SPREAD:
        fc = (layer["h"], layer["w"], layer["k"], layer["stride"], layer["pad"]) == (1, 1, 1, 1, 0)
        for phase in ("fp", "bp", "wu"):
            out.append((phase, far_apart(Descriptor(opcode=PHASE_OPS[phase], **layer))))
            if fc:
                out.append((phase, far_apart(Descriptor(opcode=FC_OPS[phase], **layer))))
    return out


@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
def test_default_tiling_is_legal(cfg):
    """default_tiling: legal, the tallest row tile for its chunk, and chunks as few as fit."""
    c = preset(cfg)
    for phase, d in _spread(cfg):
        if not fits(d, c):
            with pytest.raises(ValueError):
                default_tiling(d, c)
            continue
        tr, chunk = default_tiling(d, c)
        t = with_tiling(d, c, (tr, chunk))
        assert (t.tr, t.chunk) == (tr, chunk)
        assert validate(t, c, HUGE_WINDOW) == ErrCode.NONE, (phase, d)
        if tr < rows_of(phase, d):
            assert validate(dataclasses.replace(t, tr=tr + 1), c, HUGE_WINDOW) == ErrCode.BUFFER_OVERFLOW
        red = red_tiles_of(phase, d, c)
        per_tile = d.k * d.k * (c.acc_interleave if phase == "wu" else 1)
        fewest = -(-red // min(red, c.w_buf_depth // per_tile))
        assert -(-red // chunk) == fewest, (phase, d, chunk)


def test_default_tiling_raises_when_nothing_fits():
    with pytest.raises(ValueError):
        default_tiling(good_conv(w=60000), "ci")  # three input rows exceed the input buffer
    with pytest.raises(ValueError):
        default_tiling(tiling_layer("wu", k=7, pad=3), preset("ci").with_(w_buf_depth=100))


@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
def test_with_tiling_from_the_model_is_legal(cfg):
    """with_tiling(d, cfg, None) asks eftrain.perf's design-space exploration: its choice must
    pass the hardware's rules."""
    c = preset(cfg)
    for phase, d in _spread(cfg):
        if not fits(d, c):
            with pytest.raises(ValueError):
                with_tiling(d, c, None)
            continue
        t = with_tiling(d, c, None)
        assert (t.tr, t.chunk) != (0, 0)
        assert validate(t, c, HUGE_WINDOW) == ErrCode.NONE, (phase, d, t.tr, t.chunk)
        assert dataclasses.replace(t, tr=0, chunk=0) == d  # nothing else changed
