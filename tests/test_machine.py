"""The golden machine (eftrain.machine) and the vector-op descriptor rules (eftrain.descriptors)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eftrain.config import preset
from eftrain.descriptors import (
    BN_BLOCK_VECTORS,
    RTL_IMPLEMENTED,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    decode,
    encode_program,
    scalar_words,
    validate,
)
from eftrain.golden import vector as V
from eftrain.golden.layout import fmap_layout
from eftrain.golden.tolerance import bits_equal
from eftrain.machine import GoldenMachine
from eftrain.program import POISON, MemoryPlan

F32 = np.float32
BASE = 0x1000_0000
WINDOW = (BASE, BASE + (4 << 20))


def fm(cfg, shape):
    return fmap_layout(cfg, shape)


def pool_desc(op, **kw):
    base = dict(opcode=op, batch=2, m=6, n=6, h=8, w=8, k=2, stride=2,
                src0=BASE, src1=BASE + 0x10000, src2=BASE + 0x20000, dst=BASE + 0x30000)
    base.update(kw)
    return Descriptor(**base)


# ------------------------------------------------------------------------------- descriptors
def test_the_rtl_implements_the_whole_format_and_implemented_restricts_it():
    d = pool_desc(Opcode.MAXPOOL_FP)
    assert validate(d, "ci", WINDOW) == ErrCode.NONE
    assert validate(d, "ci", WINDOW, RTL_IMPLEMENTED) == ErrCode.NONE
    conv_only = {op: f for op, f in RTL_IMPLEMENTED.items() if op < Opcode.RELU_BP}
    assert validate(d, "ci", WINDOW, conv_only) == ErrCode.BAD_OPCODE
    relu_fp = Descriptor(opcode=Opcode.CONV_FP, batch=1, m=4, n=4, h=4, w=4, k=3, pad=1, tr=4, chunk=1,
                         flags=int(Flag.RELU), src0=BASE, src1=BASE + 0x1000, dst=BASE + 0x2000)
    assert validate(relu_fp, "ci", WINDOW) == ErrCode.NONE
    assert validate(relu_fp, "ci", WINDOW, RTL_IMPLEMENTED) == ErrCode.NONE


def test_scalars_round_trip_through_words():
    d = Descriptor(opcode=Opcode.SGD, batch=0, m=64, n=0, h=0, w=0, k=0, stride=0,
                   reserved=(0, 0, *scalar_words(0.1, 0.9, 5e-4)))
    d2 = decode(d.encode())
    assert d2 == d and d2.count == 64
    assert d2.scalars == (float(F32(0.1)), float(F32(0.9)), float(F32(5e-4)))


SGD_OK = dict(opcode=Opcode.SGD, batch=0, m=64, n=0, h=0, w=0, k=0, stride=0, pad=0,
              src0=BASE, src1=BASE + 0x1000, dst=BASE + 0x2000, reserved=(0, 0, *scalar_words(0.1, 0.9, 0.0)))
BN_OK = dict(opcode=Opcode.BN_FP, batch=2, m=6, n=6, h=4, w=4, k=1, stride=1, flags=int(Flag.RELU),
             src0=BASE, src1=BASE + 0x10000, dst=BASE + 0x20000, reserved=(0, 0, *scalar_words(1e-5, 0.1)))


@pytest.mark.parametrize(
    "base,change,code",
    [
        (BN_OK, {}, ErrCode.NONE),
        (SGD_OK, {}, ErrCode.NONE),
        (BN_OK, dict(flags=int(Flag.BIAS)), ErrCode.BAD_OPCODE),
        (BN_OK, dict(reserved=(0, 0, *scalar_words(1e-5, 0.1, 1.0))), ErrCode.BAD_OPCODE),  # word 15 unused
        (BN_OK, dict(batch=0), ErrCode.ZERO_DIM),
        (BN_OK, dict(k=3), ErrCode.BAD_KERNEL),
        (BN_OK, dict(stride=2), ErrCode.BAD_STRIDE),
        (BN_OK, dict(pad=1), ErrCode.BAD_PADDING),
        (BN_OK, dict(m=5), ErrCode.BAD_FIELD),
        (BN_OK, dict(tr=1), ErrCode.BAD_FIELD),
        (BN_OK, dict(batch=1, h=1, w=1), ErrCode.BAD_FIELD),                    # one value per channel
        (BN_OK, dict(reserved=(0, 0, *scalar_words(0.0, 0.1))), ErrCode.BAD_FIELD),   # eps = 0
        (BN_OK, dict(reserved=(0, 0, *scalar_words(1e-5, 1.5))), ErrCode.BAD_FIELD),  # momentum > 1
        (BN_OK, dict(src1=BASE + 4), ErrCode.MISALIGNED_ADDR),
        (BN_OK, dict(dst=WINDOW[1] - 64), ErrCode.OUT_OF_WINDOW),
        (SGD_OK, dict(m=0), ErrCode.ZERO_DIM),
        (SGD_OK, dict(m=66), ErrCode.BAD_FIELD),                                 # not whole beats
        (SGD_OK, dict(h=1), ErrCode.BAD_FIELD),
        (SGD_OK, dict(reserved=(0, 0, *scalar_words(-0.1, 0.9, 0.0))), ErrCode.BAD_FIELD),
        (SGD_OK, dict(reserved=(0, 0, 0x7F800000, 0, 0)), ErrCode.BAD_FIELD),    # lr = Inf
        (SGD_OK, dict(m=0, n=0x100), ErrCode.OUT_OF_WINDOW),                    # 2^24 words
    ],
)
def test_vector_rules(base, change, code):
    assert validate(Descriptor(**{**base, **change}), "ci", WINDOW) == code


@pytest.mark.parametrize(
    "change,code",
    [
        ({}, ErrCode.NONE),
        (dict(k=0), ErrCode.BAD_KERNEL),
        (dict(k=9, h=9), ErrCode.BAD_KERNEL),
        (dict(h=1), ErrCode.BAD_KERNEL),
        (dict(stride=5), ErrCode.BAD_STRIDE),
        (dict(pad=1), ErrCode.BAD_PADDING),
        (dict(flags=int(Flag.GLOBAL)), ErrCode.BAD_OPCODE),                     # max pool is never global
        (dict(h=32, w=33), ErrCode.BUFFER_OVERFLOW),                             # 32*33*4 > 4096
        (dict(h=32, w=32), ErrCode.NONE),
    ],
)
def test_pool_rules(change, code):
    assert validate(pool_desc(Opcode.MAXPOOL_FP, **change), "ci", WINDOW) == code


def test_global_pool_needs_unit_window_and_bp_buffer_counts_both_planes():
    g = pool_desc(Opcode.AVGPOOL_FP, flags=int(Flag.GLOBAL), k=1, stride=1, h=64, w=64)
    assert validate(g, "ci", WINDOW) == ErrCode.NONE           # streams: no plane buffer
    assert validate(dataclasses.replace(g, k=2), "ci", WINDOW) == ErrCode.BAD_KERNEL
    # MAXPOOL_BP holds dy and idx: 2 * 24 * 24 * 4 > 4096, AVGPOOL_BP only dy
    bp = pool_desc(Opcode.MAXPOOL_BP, h=48, w=48)
    assert validate(bp, "ci", WINDOW) == ErrCode.BUFFER_OVERFLOW
    assert validate(dataclasses.replace(bp, opcode=Opcode.AVGPOOL_BP), "ci", WINDOW) == ErrCode.NONE


# ------------------------------------------------------------------------------- machine
def machine_with(cfg, arrays):
    plan = MemoryPlan(*WINDOW)
    addr = {name: plan.alloc(name, data) for name, data in arrays.items()}
    m = GoldenMachine(cfg, WINDOW)
    for r in plan.regions.values():
        m.write(r.addr, r.data)
    return m, plan, addr


@pytest.mark.parametrize("cfg", ["ci", "zcu102"])
def test_program_of_vector_ops_matches_the_functions(cfg):
    c = preset(cfg)
    rng = np.random.default_rng(23)
    b, ch, h, w = 2, 6, 6, 6
    cp = -(-ch // c.tn) * c.tn
    x = rng.standard_normal((b, ch, h, w)).astype(F32)
    gam, bet = rng.standard_normal(ch).astype(F32), rng.standard_normal(ch).astype(F32)
    block = np.zeros(8 * cp, F32)
    block[0:ch], block[cp:cp + ch], block[3 * cp:3 * cp + ch] = gam, bet, 1.0
    xl, pl = fm(c, (b, ch, h, w)), fm(c, (b, ch, 3, 3))
    poison = np.full(xl.size, POISON, np.uint32)
    m, plan, a = machine_with(c, {"x": xl.pack(x), "bn": block, "y": poison, "p": poison[:pl.size],
                                  "i": poison[:pl.size], "dy": pl.pack(np.ones((b, ch, 3, 3), F32)),
                                  "dp": poison, "dx": poison, "db": np.zeros(cp, np.uint32)})
    n = dict(batch=b, m=ch, n=ch, h=h, w=w)
    prog = [
        Descriptor(opcode=Opcode.BN_FP, flags=int(Flag.RELU), k=1, stride=1, src0=a["x"], src1=a["bn"],
                   dst=a["y"], reserved=(0, 0, *scalar_words(1e-5, 0.1)), **n),
        Descriptor(opcode=Opcode.MAXPOOL_FP, k=2, stride=2, src0=a["y"], dst=a["p"], src2=a["i"], **n),
        Descriptor(opcode=Opcode.MAXPOOL_BP, k=2, stride=2, src0=a["dy"], src1=a["i"], dst=a["dp"], **n),
        Descriptor(opcode=Opcode.BN_BP, flags=int(Flag.RELU), k=1, stride=1, src0=a["dp"], src1=a["bn"],
                   src2=a["x"], dst=a["dx"], **n),
        Descriptor(opcode=Opcode.BIAS_GRAD, k=1, stride=1, src0=a["dx"], dst=a["db"], **n),
        Descriptor(opcode=Opcode.SGD, batch=0, m=2 * cp, n=0, h=0, w=0, k=0, stride=0,
                   src0=a["bn"] + 4 * 6 * cp,
                   src1=a["db"], dst=a["bn"], reserved=(0, 0, *scalar_words(0.1, 0.0, 0.0))),
    ]
    p = plan.alloc("prog", encode_program(prog))
    m.write(p, plan.regions["prog"].data)
    run = m.run(p, len(prog))
    assert run.ok and len(run.descriptors) == len(prog)
    # the same chain through the functions
    fwd = V.bn_fp(x, gam, bet, np.zeros(ch, F32), np.ones(ch, F32), 0.1, 1e-5, True, c)
    assert bits_equal(xl.unpack(m.read(a["y"], xl.size)), fwd.y)
    yp, idx = V.maxpool_fp(fwd.y, 2, 2)
    assert bits_equal(pl.unpack(m.read(a["p"], pl.size)), yp)
    dp = V.maxpool_bp(np.ones((b, ch, 3, 3), F32), idx, x.shape, 2, 2)
    dx, dg, dbeta = V.bn_bp(dp, x, gam, bet, fwd.mean, fwd.invstd, True, c)
    assert bits_equal(xl.unpack(m.read(a["dx"], xl.size)), dx)
    # padding lanes of every feature map are +0.0
    words = m.read(a["dx"], xl.size).reshape(b, -1, h, w, c.tn)
    assert not words[:, -1, :, :, ch - (cp - c.tn):].any()
    blk = m.read(a["bn"], 8 * cp).view(F32)
    rows = {name: blk[i * cp:i * cp + ch] for i, name in enumerate(BN_BLOCK_VECTORS)}
    assert bits_equal(rows["dgamma"], dg) and bits_equal(rows["dbeta"], dbeta)
    assert bits_equal(rows["mean"], fwd.mean) and bits_equal(rows["running_mean"], fwd.running_mean)
    # SGD (lr 0.1, no momentum) updated gamma and beta in place; the "momentum buffer" was db
    w2, _ = V.sgd(gam, dg, np.zeros(ch, F32), 0.1)
    assert bits_equal(rows["gamma"], w2)


def test_illegal_descriptor_stops_the_program_and_writes_nothing():
    c = preset("ci")
    x = np.arange(2 * 4 * 4 * 4, dtype=F32).reshape(2, 4, 4, 4)
    xl = fm(c, x.shape)
    m, plan, a = machine_with(c, {"x": xl.pack(x), "y": np.full(xl.size, POISON, np.uint32)})
    good = Descriptor(opcode=Opcode.AVGPOOL_FP, batch=2, m=4, n=4, h=4, w=4, k=1, stride=1,
                      flags=int(Flag.GLOBAL), src0=a["x"], dst=a["y"])
    bad = dataclasses.replace(good, k=2)
    p = plan.alloc("prog", encode_program([good, bad, good]))
    m.write(p, plan.regions["prog"].data)
    before = m.mem.copy()
    run = m.run(p, 3)
    assert (run.code, run.index, len(run.descriptors)) == (ErrCode.BAD_KERNEL, 1, 1)
    changed = np.flatnonzero(before != m.mem)
    lo = (a["y"] - BASE) // 4
    assert changed.size and changed.min() >= lo and changed.max() < lo + fm(c, (2, 4, 1, 1)).size
    assert m.run(p + 64 * 3, 0).ok
    assert m.run(p + 4, 1).code == ErrCode.MISALIGNED_ADDR
    assert m.run(WINDOW[1] - 32, 1).code == ErrCode.OUT_OF_WINDOW
