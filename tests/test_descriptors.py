"""Descriptor format and validation rules (eftrain.descriptors)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eftrain.config import preset
from eftrain.descriptors import (
    DESC_WORDS,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    decode,
    encode_program,
    validate,
)
from eftrain.golden.layout import fmap_layout, weight_layout

WINDOW = (0x1000_0000, 0x2000_0000)


def good_conv(**kw) -> Descriptor:
    base = dict(opcode=Opcode.CONV_FP, batch=2, m=8, n=6, h=9, w=7, k=3, stride=1, pad=1, flags=Flag.BIAS,
                src0=0x1000_0000, src1=0x1010_0000, src2=0x1020_0000, dst=0x1030_0000)
    base.update(kw)
    return Descriptor(**base)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        def r(bits: int) -> int:
            return int(rng.integers(0, 1 << bits))

        d = Descriptor(
            opcode=r(8), flags=r(8), batch=r(16), m=r(16), n=r(16), h=r(16), w=r(16), k=r(4), stride=r(4),
            pad=r(4), src0=r(63), src1=r(63), src2=r(63), dst=r(63),
            reserved=(r(16), r(4), r(32), r(32), r(32), r(32)),
        )
        words = d.encode()
        assert words.dtype == np.uint32 and words.shape == (DESC_WORDS,)
        assert decode(words) == d


def test_field_layout_by_hand():
    d = good_conv(pad=2, k=5)
    w = d.encode()
    assert w[0] == 0x0101  # opcode 1, flags BIAS
    assert w[1] == 2 | (5 << 16) | (1 << 20) | (2 << 24)
    assert w[2] == 8 | (6 << 16) and w[3] == 9 | (7 << 16)
    assert (w[4], w[5], w[10], w[11]) == (0x1000_0000, 0, 0x1030_0000, 0)
    prog = encode_program([d, d])
    assert prog.shape == (2 * DESC_WORDS,) and np.array_equal(prog[:16], prog[16:])


def test_field_overflow_is_a_value_error():
    with pytest.raises(ValueError, match="batch"):
        good_conv(batch=1 << 16).encode()
    with pytest.raises(ValueError, match="src0"):
        good_conv(src0=1 << 64).encode()


@pytest.mark.parametrize("cfg", ["ci", "zcu102", "odd"])
def test_a_good_descriptor_passes(cfg):
    for op in (Opcode.CONV_FP, Opcode.CONV_BP, Opcode.CONV_WU):
        flags = Flag.BIAS if op == Opcode.CONV_FP else 0
        assert validate(good_conv(opcode=op, flags=flags), cfg, WINDOW) == ErrCode.NONE
    fc = Descriptor(opcode=Opcode.FC_FP, batch=4, m=10, n=64, src0=0x1000_0000, src1=0x1001_0000,
                    dst=0x1002_0000)
    assert validate(fc, cfg, WINDOW) == ErrCode.NONE


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (dict(opcode=0x07), ErrCode.BAD_OPCODE),
        (dict(flags=0x02), ErrCode.BAD_OPCODE),
        (dict(opcode=Opcode.CONV_WU), ErrCode.BAD_OPCODE),  # BIAS on a WU
        (dict(reserved=(0, 0, 0, 1, 0, 0)), ErrCode.BAD_OPCODE),
        (dict(batch=0), ErrCode.ZERO_DIM),
        (dict(n=0), ErrCode.ZERO_DIM),
        (dict(w=0), ErrCode.ZERO_DIM),
        (dict(k=0), ErrCode.BAD_KERNEL),
        (dict(k=8, pad=0), ErrCode.BAD_KERNEL),
        (dict(h=2, pad=0), ErrCode.BAD_KERNEL),  # 3x3 kernel on a 2-row map
        (dict(stride=0), ErrCode.BAD_STRIDE),
        (dict(stride=5), ErrCode.BAD_STRIDE),
        (dict(pad=3), ErrCode.BAD_PADDING),
        (dict(w=60000), ErrCode.BUFFER_OVERFLOW),
        (dict(src1=0x1010_0004), ErrCode.MISALIGNED_ADDR),
        (dict(dst=0x0FFF_FFF0), ErrCode.OUT_OF_WINDOW),
        (dict(dst=0x1FFF_FF00), ErrCode.OUT_OF_WINDOW),  # starts inside, ends beyond the limit
    ],
)
def test_each_rule_reports_its_code(change, code):
    assert validate(good_conv(**change), "zcu102", WINDOW) == code


def test_fc_must_be_1x1():
    fc = Descriptor(opcode=Opcode.FC_BP, batch=4, m=10, n=64, src0=0x1000_0000, src1=0x1001_0000,
                    dst=0x1002_0000)
    assert validate(fc, "ci", WINDOW) == ErrCode.NONE
    assert validate(dataclasses.replace(fc, h=2), "ci", WINDOW) == ErrCode.DIM_TOO_LARGE


def test_checks_run_in_the_documented_order():
    # zero dimension and a misaligned, out-of-window address: the dimension is reported
    d = good_conv(batch=0, src0=3)
    assert validate(d, "ci", WINDOW) == ErrCode.ZERO_DIM
    # bad stride and out of window: the stride is reported
    assert validate(good_conv(stride=9, dst=0), "ci", WINDOW) == ErrCode.BAD_STRIDE


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
