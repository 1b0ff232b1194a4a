"""Descriptor programs: the fixed-size records the accelerator fetches from DRAM and runs in order.

One descriptor is one op (a layer phase). The host writes a program (an array of descriptors)
into DRAM, points ``PROG_BASE``/``PROG_COUNT`` at it and starts the accelerator; the hardware
fetches, validates and executes the descriptors one after another. This module is the single
definition of the format: the RTL package, the HLS header and the runtime are generated from or
checked against it, and :func:`validate` is the executable specification of the hardware's
validation (the same rules, the same error codes, the same order of checks).

Format (64 bytes = 16 little-endian 32-bit words)::

    word  bits     field
    0     7:0      opcode   (Opcode)
    0     15:8     flags    (Flag bits; undefined bits must be 0)
    0     31:16    reserved (0)
    1     15:0     batch    B
    1     19:16    k        kernel size K
    1     23:20    stride   S
    1     27:24    pad      P
    1     31:28    reserved (0)
    2     15:0     m        output channels M (FC: output features)
    2     31:16    n        input channels N  (FC: input features)
    3     15:0     h        input rows H      (FC: 1)
    3     31:16    w        input columns W   (FC: 1)
    4..5           src0     byte address: FP x, BP dy, WU x
    6..7           src1     byte address: FP w, BP w,  WU dy
    8..9           src2     byte address: FP bias (with Flag.BIAS), otherwise 0
    10..11         dst      byte address: FP y, BP dx, WU dw
    12     15:0     tr       output rows per row tile   (the tiling: eftrain.tiling)
    12     31:16    chunk    reduction tiles per weight chunk
    13..15         reserved (0)

Tensors are in the reshaped DRAM layouts of :mod:`eftrain.golden.layout` (feature maps
``[B][ceil(C/Tn)][H][W][Tn]``, weights ``[ceil(M/Tm)][ceil(N/Tn)][K][K][Tm][Tn]``, bias a plain
vector padded to whole beats). FC layers are K = 1 convolutions on a 1 x 1 map.

The tiling (``tr``, ``chunk``) is chosen by the host (:func:`with_tiling` asks the analytical
model's design-space exploration, :func:`eftrain.perf.choose_tiling`) and checked by the
hardware with the rules of :mod:`eftrain.tiling`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

import numpy as np

from eftrain import tiling as _tiling
from eftrain.config import HwConfig, preset
from eftrain.csr_gen import ErrCode  # the one list of error codes: rtl/regs/eftrain_csr.rdl
from eftrain.golden.layout import fmap_layout, weight_layout

__all__ = [
    "DESC_BYTES",
    "DESC_WORDS",
    "VALIDATION_CODES",
    "Descriptor",
    "ErrCode",
    "Flag",
    "Opcode",
    "decode",
    "default_tiling",
    "encode_program",
    "geometry",
    "validate",
    "with_tiling",
]

DESC_WORDS = 16
DESC_BYTES = 4 * DESC_WORDS
MAX_DIM = 0xFFFF


class Opcode(IntEnum):
    CONV_FP = 0x01
    CONV_BP = 0x02
    CONV_WU = 0x03
    FC_FP = 0x04
    FC_BP = 0x05
    FC_WU = 0x06


class Flag(IntFlag):
    BIAS = 0x01  # FP: the accumulators start from the bias vector at src2


# The codes validate() can return (the others come from the DMA, a soft reset or an internal fault).
VALIDATION_CODES = (
    ErrCode.NONE, ErrCode.BAD_OPCODE, ErrCode.ZERO_DIM, ErrCode.DIM_TOO_LARGE, ErrCode.BAD_KERNEL,
    ErrCode.BAD_STRIDE, ErrCode.BAD_PADDING, ErrCode.BAD_FIELD, ErrCode.BUFFER_OVERFLOW,
    ErrCode.MISALIGNED_ADDR, ErrCode.OUT_OF_WINDOW,
)

_PHASE = {
    Opcode.CONV_FP: "fp", Opcode.FC_FP: "fp",
    Opcode.CONV_BP: "bp", Opcode.FC_BP: "bp",
    Opcode.CONV_WU: "wu", Opcode.FC_WU: "wu",
}


@dataclass(frozen=True)
class Descriptor:
    """One op of a descriptor program (fields as in the module documentation)."""

    opcode: int
    batch: int
    m: int
    n: int
    h: int = 1
    w: int = 1
    k: int = 1
    stride: int = 1
    pad: int = 0
    flags: int = 0
    src0: int = 0
    src1: int = 0
    src2: int = 0
    dst: int = 0
    tr: int = 0      # tiling: output rows per row tile (0: not chosen; the hardware rejects it)
    chunk: int = 0   # tiling: reduction tiles per weight chunk
    reserved: tuple[int, ...] = field(default=(0, 0, 0, 0, 0))  # word0[31:16], word1[31:28], words 13..15

    @property
    def phase(self) -> str:
        return _PHASE[Opcode(self.opcode)]

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.pad - self.k) // self.stride + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.pad - self.k) // self.stride + 1

    def encode(self) -> np.ndarray:
        """The 16 words of this descriptor (uint32). Fields must fit their bit widths."""
        widths = {"opcode": 8, "flags": 8, "batch": 16, "k": 4, "stride": 4, "pad": 4, "m": 16, "n": 16,
                  "h": 16, "w": 16, "tr": 16, "chunk": 16}
        for name, bits in widths.items():
            v = getattr(self, name)
            if not 0 <= v < (1 << bits):
                raise ValueError(f"descriptor field {name}={v} does not fit in {bits} bits")
        for name in ("src0", "src1", "src2", "dst"):
            v = getattr(self, name)
            if not 0 <= v < (1 << 64):
                raise ValueError(f"descriptor field {name}={v:#x} is not a 64-bit address")
        r = self.reserved
        if len(r) != 5:
            raise ValueError(f"reserved must have 5 entries (word0[31:16], word1[31:28], words 13..15), "
                             f"got {r}")
        words = np.zeros(DESC_WORDS, np.uint32)
        words[0] = self.opcode | (self.flags << 8) | ((r[0] & 0xFFFF) << 16)
        words[1] = self.batch | (self.k << 16) | (self.stride << 20) | (self.pad << 24) | ((r[1] & 0xF) << 28)
        words[2] = self.m | (self.n << 16)
        words[3] = self.h | (self.w << 16)
        for i, a in enumerate((self.src0, self.src1, self.src2, self.dst)):
            words[4 + 2 * i] = a & 0xFFFFFFFF
            words[5 + 2 * i] = a >> 32
        words[12] = self.tr | (self.chunk << 16)
        words[13:16] = np.array(r[2:5], np.uint64).astype(np.uint32)
        return words


def decode(words: np.ndarray) -> Descriptor:
    """The descriptor of 16 words (the inverse of :meth:`Descriptor.encode`)."""
    w = np.asarray(words, dtype=np.uint64)
    if w.shape != (DESC_WORDS,):
        raise ValueError(f"a descriptor is {DESC_WORDS} words, got shape {w.shape}")
    v = [int(x) for x in w]
    return Descriptor(
        opcode=v[0] & 0xFF, flags=(v[0] >> 8) & 0xFF,
        batch=v[1] & 0xFFFF, k=(v[1] >> 16) & 0xF, stride=(v[1] >> 20) & 0xF, pad=(v[1] >> 24) & 0xF,
        m=v[2] & 0xFFFF, n=v[2] >> 16, h=v[3] & 0xFFFF, w=v[3] >> 16,
        src0=v[4] | (v[5] << 32), src1=v[6] | (v[7] << 32),
        src2=v[8] | (v[9] << 32), dst=v[10] | (v[11] << 32),
        tr=v[12] & 0xFFFF, chunk=v[12] >> 16,
        reserved=(v[0] >> 16, v[1] >> 28, v[13], v[14], v[15]),
    )


def encode_program(descs: list[Descriptor]) -> np.ndarray:
    """A program: the descriptors' words one after another (uint32)."""
    if not descs:
        return np.zeros(0, np.uint32)
    return np.concatenate([d.encode() for d in descs])


def _tensor_bytes(d: Descriptor, cfg: HwConfig) -> dict[str, tuple[int, int]]:
    """(address, bytes) of every tensor the descriptor reads or writes, in its DRAM layout."""
    x = fmap_layout(cfg, (d.batch, d.n, d.h, d.w)).nbytes
    y = fmap_layout(cfg, (d.batch, d.m, d.oh, d.ow)).nbytes
    wt = weight_layout(cfg, (d.m, d.n, d.k, d.k)).nbytes
    beat = cfg.bus_bits // 8
    if d.phase == "fp":
        t = {"src0": (d.src0, x), "src1": (d.src1, wt), "dst": (d.dst, y)}
        if d.flags & Flag.BIAS:
            t["src2"] = (d.src2, -(-4 * d.m // beat) * beat)
        return t
    if d.phase == "bp":
        return {"src0": (d.src0, y), "src1": (d.src1, wt), "dst": (d.dst, x)}
    return {"src0": (d.src0, x), "src1": (d.src1, y), "dst": (d.dst, wt)}


def geometry(d: Descriptor, cfg: HwConfig | str) -> _tiling.PhaseGeometry:
    """The tiling geometry of a (field-checked) descriptor (:func:`eftrain.tiling.phase_geometry`)."""
    return _tiling.phase_geometry(d.phase, cfg, d.batch, d.m, d.n, d.h, d.w, d.k, d.stride, d.pad)


def default_tiling(d: Descriptor, cfg: HwConfig | str) -> tuple[int, int]:
    """The simplest legal tiling: the tallest row tile that fits, the fewest weight chunks
    (balanced). Raises ``ValueError`` if none fits."""
    c = preset(cfg)
    g = geometry(d, c)
    per_tile = g.w_chunk_words(1, c.acc_interleave)
    max_chunk = min(g.red_tiles, c.w_buf_depth // per_tile)
    if max_chunk < 1:
        raise ValueError(f"one weight tile needs {per_tile} words per lane, w_buf_depth is {c.w_buf_depth}")
    chunk = -(-g.red_tiles // -(-g.red_tiles // max_chunk))
    for tr in range(g.rows, 0, -1):
        if _tiling.check(g, c, d.k, d.stride, tr, chunk) is None:
            return tr, chunk
    raise ValueError(f"no row tile of this {d.phase} layer fits the buffers of {c.name}")


def with_tiling(d: Descriptor, cfg: HwConfig | str, tiling: tuple[int, int] | None = None) -> Descriptor:
    """``d`` with its tiling fields set: ``tiling`` = (tr, chunk), or the analytical model's
    choice (:func:`eftrain.perf.choose_tiling`, the fastest legal tiling) when ``None``."""
    if tiling is None:
        from eftrain import perf  # the model imports much more; only load it when asked

        layer = perf.ConvLayer("", m=d.m, n=d.n, h=d.h, w=d.w, k=d.k, s=d.stride, p=d.pad)
        t = perf.choose_tiling(layer, d.phase, cfg, d.batch)
        tiling = (t.tr, t.chunk_tiles if t.chunk_tiles is not None else geometry(d, cfg).red_tiles)
    return dataclasses.replace(d, tr=int(tiling[0]), chunk=int(tiling[1]))


def validate(d: Descriptor, cfg: HwConfig | str, window: tuple[int, int]) -> ErrCode:
    """The hardware's verdict on one descriptor: ``ErrCode.NONE`` or the first failing rule.

    Rules, checked in this order (the RTL checks in the same order and reports the first):
    opcode/flags/reserved, zero dimensions, dimension limits, kernel, stride, padding, tiling
    fields, buffer fit of the tiling (:mod:`eftrain.tiling`), address alignment (AXI beat),
    memory window ``[base, limit)`` for every tensor.
    """
    c = preset(cfg)
    base, limit = window
    if d.opcode not in _PHASE.keys() or d.flags & ~int(Flag.BIAS) or any(d.reserved):
        return ErrCode.BAD_OPCODE
    if d.flags & Flag.BIAS and d.phase != "fp":
        return ErrCode.BAD_OPCODE
    if 0 in (d.batch, d.m, d.n, d.h, d.w):
        return ErrCode.ZERO_DIM
    if max(d.batch, d.m, d.n, d.h, d.w) > MAX_DIM:
        return ErrCode.DIM_TOO_LARGE
    if d.opcode in (Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU) and (d.h, d.w, d.k, d.stride, d.pad) != (
        1, 1, 1, 1, 0,
    ):
        return ErrCode.DIM_TOO_LARGE
    if not 1 <= d.k <= 7 or d.h + 2 * d.pad < d.k or d.w + 2 * d.pad < d.k:
        return ErrCode.BAD_KERNEL
    if not 1 <= d.stride <= 4:
        return ErrCode.BAD_STRIDE
    if d.pad > d.k - 1:
        return ErrCode.BAD_PADDING
    verdict = _tiling.check(geometry(d, c), c, d.k, d.stride, d.tr, d.chunk)
    if verdict == "field":
        return ErrCode.BAD_FIELD
    if verdict == "buffer":
        return ErrCode.BUFFER_OVERFLOW
    beat = c.bus_bits // 8
    tensors = _tensor_bytes(d, c)
    if any(addr % beat for addr, _ in tensors.values()):
        return ErrCode.MISALIGNED_ADDR
    if any(addr < base or addr + size > limit for addr, size in tensors.values()):
        return ErrCode.OUT_OF_WINDOW
    return ErrCode.NONE
