"""The golden machine: the whole accelerator as the bit-exact model, running descriptor programs.

It holds a DRAM image of the memory window and runs a program exactly as ``rtl/eftrain_top.sv``
does: descriptors fetched from DRAM in order, each validated with the hardware's rules
(:func:`eftrain.descriptors.validate`: the first failing rule stops the program with its code
and the descriptor's index, nothing of it is written), then executed with the bit-exact
arithmetic of :mod:`eftrain.golden.engine` (convolutions, fully connected layers) and
:mod:`eftrain.golden.vector` (everything else). The same program and the same DRAM image on the
RTL (or the board) must leave the same bits.

Padding lanes: vector ops compute every lane of a channel block, padding lanes included (they
hold ``+0.0`` and produce ``+0.0`` in every feature map; per-channel statistics of padding
lanes are whatever the arithmetic gives, e.g. ``invstd = 1/sqrt(eps)``), exactly like the
hardware; convolutions write ``+0.0`` into padding lanes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.descriptors import (
    BN_BLOCK_VECTORS,
    DESC_WORDS,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    decode,
    validate,
)
from eftrain.golden import engine, vector
from eftrain.golden.layout import fmap_layout, weight_layout

__all__ = ["GoldenMachine", "ProgramRun"]

_F32 = np.float32


@dataclass
class ProgramRun:
    """Outcome of one program: the stop code and index (``ErrCode.NONE``: every descriptor ran)."""

    code: ErrCode
    index: int
    descriptors: list[Descriptor] = field(default_factory=list)  # the ones that ran

    @property
    def ok(self) -> bool:
        return self.code == ErrCode.NONE


class GoldenMachine:
    """A DRAM window ``[base, limit)`` and the accelerator's bit-exact behaviour on it."""

    def __init__(self, cfg: HwConfig | str, window: tuple[int, int]) -> None:
        self.cfg = preset(cfg)
        base, limit = window
        if base % 64 or limit <= base or (limit - base) % 4:
            raise ValueError(f"window [{base:#x}, {limit:#x}) must be non-empty and 64-byte aligned")
        self.base, self.limit = base, limit
        self.mem = np.zeros((limit - base) // 4, np.uint32)

    # -- memory ------------------------------------------------------------------------------
    def _index(self, addr: int, words: int) -> slice:
        if addr % 4 or addr < self.base or addr + 4 * words > self.limit:
            raise ValueError(f"access [{addr:#x}, {addr + 4 * words:#x}) outside the window "
                             f"[{self.base:#x}, {self.limit:#x}) or misaligned")
        lo = (addr - self.base) // 4
        return slice(lo, lo + words)

    def write(self, addr: int, words: np.ndarray) -> None:
        """Store 32-bit words (any 4-byte dtype; bits kept) at byte address ``addr``."""
        w = np.ascontiguousarray(words).view(np.uint32).reshape(-1)
        self.mem[self._index(addr, w.size)] = w

    def read(self, addr: int, count: int) -> np.ndarray:
        """A copy of ``count`` words at ``addr`` (uint32)."""
        return self.mem[self._index(addr, count)].copy()

    # -- programs ----------------------------------------------------------------------------
    def run(self, prog_addr: int, count: int) -> ProgramRun:
        """Run ``count`` descriptors from ``prog_addr``, as CTRL.START does."""
        c = self.cfg
        beat = c.bus_bits // 8
        if count == 0:
            return ProgramRun(ErrCode.NONE, 0)
        if prog_addr % beat:
            return ProgramRun(ErrCode.MISALIGNED_ADDR, 0)
        if prog_addr < self.base or prog_addr + 64 * count > self.limit:
            return ProgramRun(ErrCode.OUT_OF_WINDOW, 0)
        ran: list[Descriptor] = []
        for i in range(count):
            d = decode(self.read(prog_addr + 64 * i, DESC_WORDS))
            code = validate(d, c, (self.base, self.limit))
            if code != ErrCode.NONE:
                return ProgramRun(code, i, ran)
            self.execute(d)
            ran.append(d)
        return ProgramRun(ErrCode.NONE, count - 1, ran)

    # -- one descriptor ----------------------------------------------------------------------
    def _fmap(self, addr: int, shape: tuple[int, int, int, int]) -> np.ndarray:
        lay = fmap_layout(self.cfg, shape)
        return lay.unpack(self.read(addr, lay.size))

    def _put_fmap(self, addr: int, a: np.ndarray) -> None:
        self.write(addr, fmap_layout(self.cfg, a.shape).pack(a))

    def _cp(self, ch: int) -> int:
        return -(-ch // self.cfg.tn) * self.cfg.tn

    def _vec(self, addr: int, ch: int) -> np.ndarray:
        return self.read(addr, self._cp(ch)).view(_F32)

    def execute(self, d: Descriptor) -> None:
        """Execute one (valid) descriptor on the DRAM image."""
        op = Opcode(d.opcode)
        c = self.cfg
        if op in (Opcode.CONV_FP, Opcode.FC_FP, Opcode.CONV_BP, Opcode.FC_BP, Opcode.CONV_WU, Opcode.FC_WU):
            self._conv(d, op)
            return
        ch = self._cp(d.n)  # vector ops: every lane of every channel block
        b, h, w = d.batch, d.h, d.w
        if op == Opcode.SGD:
            n = d.count
            lr, mom, wd = d.scalars
            wv = self.read(d.dst, n).view(_F32)
            g = self.read(d.src0, n).view(_F32)
            v = self.read(d.src1, n).view(_F32)
            w2, v2 = vector.sgd(wv, g, v, lr, mom, wd)
            self.write(d.dst, w2)
            self.write(d.src1, v2)
            return
        if op == Opcode.RELU_BP:
            dy = self._fmap(d.src0, (b, ch, h, w))
            y = self._fmap(d.src1, (b, ch, h, w))
            self._put_fmap(d.dst, vector.relu_bp(dy, y))
        elif op == Opcode.MAXPOOL_FP:
            y, idx = vector.maxpool_fp(self._fmap(d.src0, (b, ch, h, w)), d.k, d.stride)
            self._put_fmap(d.dst, y)
            self._put_fmap(d.src2, idx.view(_F32))
        elif op == Opcode.MAXPOOL_BP:
            oshape = (b, ch, d.oh, d.ow)
            dy = self._fmap(d.src0, oshape)
            idx = self._fmap(d.src1, oshape).view(np.uint32)
            if np.any(idx >= d.k * d.k):
                raise ValueError(f"MAXPOOL_BP: an index at {d.src1:#x} is outside its window "
                                 f"(the hardware's result is undefined)")
            self._put_fmap(d.dst, vector.maxpool_bp(dy, idx, (b, ch, h, w), d.k, d.stride))
        elif op == Opcode.AVGPOOL_FP:
            x = self._fmap(d.src0, (b, ch, h, w))
            y = (vector.global_avgpool_fp(x, c) if d.flags & Flag.GLOBAL
                 else vector.avgpool_fp(x, d.k, d.stride))
            self._put_fmap(d.dst, y)
        elif op == Opcode.AVGPOOL_BP:
            dy = self._fmap(d.src0, (b, ch, d.oh, d.ow))
            xs = (b, ch, h, w)
            dx = (vector.global_avgpool_bp(dy, xs) if d.flags & Flag.GLOBAL
                  else vector.avgpool_bp(dy, xs, d.k, d.stride))
            self._put_fmap(d.dst, dx)
        elif op == Opcode.BN_FP:
            blk = self._bn_block(d.src1, d.n)
            eps, mom, _ = d.scalars
            r = vector.bn_fp(self._fmap(d.src0, (b, ch, h, w)), blk["gamma"], blk["beta"],
                             blk["running_mean"], blk["running_var"], mom, eps,
                             bool(d.flags & Flag.RELU), c)
            self._put_fmap(d.dst, r.y)
            self._put_bn(d.src1, d.n, running_mean=r.running_mean, running_var=r.running_var,
                         mean=r.mean, invstd=r.invstd)
        elif op == Opcode.BN_BP:
            blk = self._bn_block(d.src1, d.n)
            dx, dg, db = vector.bn_bp(self._fmap(d.src0, (b, ch, h, w)), self._fmap(d.src2, (b, ch, h, w)),
                                      blk["gamma"], blk["beta"], blk["mean"], blk["invstd"],
                                      bool(d.flags & Flag.RELU), c)
            self._put_fmap(d.dst, dx)
            self._put_bn(d.src1, d.n, dgamma=dg, dbeta=db)
        elif op == Opcode.BIAS_GRAD:
            self.write(d.dst, vector.bias_grad(self._fmap(d.src0, (b, ch, h, w)), c))
        else:  # pragma: no cover - every opcode is handled above
            raise AssertionError(op)

    def _bn_block(self, addr: int, ch: int) -> dict[str, np.ndarray]:
        cp = self._cp(ch)
        words = self.read(addr, cp * len(BN_BLOCK_VECTORS)).view(_F32)
        return {name: words[i * cp:(i + 1) * cp].copy() for i, name in enumerate(BN_BLOCK_VECTORS)}

    def _put_bn(self, addr: int, ch: int, **vectors: np.ndarray) -> None:
        cp = self._cp(ch)
        for name, v in vectors.items():
            self.write(addr + 4 * cp * BN_BLOCK_VECTORS.index(name), np.asarray(v, _F32))

    def _conv(self, d: Descriptor, op: Opcode) -> None:
        c = self.cfg
        xs, ws = (d.batch, d.n, d.h, d.w), (d.m, d.n, d.k, d.k)
        ys = (d.batch, d.m, d.oh, d.ow)
        wl = weight_layout(c, ws)
        if d.phase == "fp":
            x = self._fmap(d.src0, xs)
            wt = wl.unpack(self.read(d.src1, wl.size))
            bias = self.read(d.src2, d.m).view(_F32) if d.flags & Flag.BIAS else None
            y = engine.conv_fp(x, wt, bias, d.stride, d.pad, c)
            if d.flags & Flag.RELU:
                y = vector.relu(y)
            self._put_fmap(d.dst, y)
        elif d.phase == "bp":
            dy = self._fmap(d.src0, ys)
            wt = wl.unpack(self.read(d.src1, wl.size))
            self._put_fmap(d.dst, engine.conv_bp(dy, wt, xs, d.stride, d.pad, c))
        else:
            x = self._fmap(d.src0, xs)
            dy = self._fmap(d.src1, ys)
            dw = wl.pack(engine.conv_wu(x, dy, ws, d.stride, d.pad, c))
            if d.flags & Flag.SGD:   # fused: w and v (src2) updated in place, no dW written
                lr, mom, wd = d.scalars
                w2, v2 = vector.sgd(self.read(d.dst, wl.size).view(_F32), dw.view(_F32),
                                    self.read(d.src2, wl.size).view(_F32), lr, mom, wd)
                self.write(d.dst, w2)
                self.write(d.src2, v2)
            else:
                self.write(d.dst, dw)
