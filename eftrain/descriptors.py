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
    0     15:8     flags    (Flag bits; bits an opcode does not take must be 0)
    0     31:16    reserved (0)
    1     15:0     batch    B
    1     19:16    k        kernel size K (pooling: window)
    1     23:20    stride   S
    1     27:24    pad      P
    1     31:28    reserved (0)
    2     15:0     m        output channels M (FC: output features; vector ops: C, = n)
    2     31:16    n        input channels N  (FC: input features;  vector ops: C)
    3     15:0     h        input rows H      (FC: 1)
    3     31:16    w        input columns W   (FC: 1)
    4..5           src0     byte address (per opcode, below)
    6..7           src1     byte address
    8..9           src2     byte address
    10..11         dst      byte address
    12     15:0     tr       convolutions: output rows per row tile (the tiling: eftrain.tiling)
    12     31:16    chunk    convolutions: reduction tiles per weight chunk
    13..15         scalars  binary32 bit patterns (BN_FP: eps, momentum; SGD and CONV_WU / FC_WU
                            with Flag.SGD: lr, momentum, weight decay); 0 where an op takes none

Opcodes and their tensors (``fmap(B, C, H, W)`` the reshaped feature-map layout, ``vec(C)`` a
per-channel vector of ``ceil(C/Tn) * Tn`` words with ``+0.0`` padding, ``wt`` the reshaped weight
layout; "rw" tensors are read and written in place)::

    CONV_FP / FC_FP   src0 x, src1 w, src2 bias vec(M) (Flag.BIAS), dst y
                      Flag.RELU: y = relu(conv) (fused into the store)
    CONV_BP / FC_BP   src0 dy, src1 w, dst dx
    CONV_WU / FC_WU   src0 x, src1 dy, dst dw
                      Flag.SGD: SGD fused into the write-back: dst w (rw), src2 momentum buffer
                      v (rw, as w), words 13..15 lr, momentum, weight decay; each dW tile
                      updates its w and v tiles as it leaves the engine (the bits of WU then
                      SGD over the tensor); no dW is written; the weight tensor must be
                      < 2^32 words (BAD_FIELD)
    RELU_BP           src0 dy fmap(B,C,H,W), src1 y (the stored ReLU output), dst dx
    MAXPOOL_FP        src0 x fmap(B,C,H,W), dst y fmap(B,C,OH,OW), src2 idx (uint32, as y)
    MAXPOOL_BP        src0 dy fmap(B,C,OH,OW), src1 idx, dst dx fmap(B,C,H,W)
    AVGPOOL_FP        src0 x, dst y; Flag.GLOBAL: the H x W window, OH = OW = 1 (k = s = 1)
    AVGPOOL_BP        src0 dy, dst dx (Flag.GLOBAL as above)
    BN_FP             src0 x, src1 the layer's BN block (rw), dst y; Flag.RELU: y = relu(z)
    BN_BP             src0 dy, src1 BN block (rw), src2 x (BN_FP's input), dst dx; Flag.RELU:
                      dy is masked where BN_FP's pre-activation z was not > 0
    BIAS_GRAD         src0 dy fmap(B,C,H,W), dst db vec(C)
    SGD               src0 g, src1 momentum buffer v (rw), dst w (rw); word 2 is the element
                      count (32 bits, a multiple of the bus words), words 1 and 3 are 0

A BN block is 8 vectors vec(C), in this order: gamma, beta, running_mean, running_var (the
parameters; BN_FP updates the running statistics), mean, invstd (saved by BN_FP for BN_BP),
dgamma, dbeta (written by BN_BP). gamma/beta and dgamma/dbeta are adjacent, so one SGD op
updates both. The arithmetic of every op is :mod:`eftrain.golden.vector` (vector ops) and
:mod:`eftrain.golden.engine` (convolutions).

Tensors are in the reshaped DRAM layouts of :mod:`eftrain.golden.layout` (feature maps
``[B][ceil(C/Tn)][H][W][Tn]``, weights ``[ceil(M/Tm)][ceil(N/Tn)][K][K][Tm][Tn]``, bias a plain
vector padded to whole beats). FC layers are K = 1 convolutions on a 1 x 1 map.

The tiling (``tr``, ``chunk``) is chosen by the host (:func:`with_tiling` asks the analytical
model's design-space exploration, :func:`eftrain.perf.choose_tiling`) and checked by the
hardware with the rules of :mod:`eftrain.tiling`. Vector ops carry no tiling (``tr = chunk = 0``).
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
    "BN_BLOCK_VECTORS",
    "CONV_OPCODES",
    "DESC_BYTES",
    "DESC_WORDS",
    "HLS_IMPLEMENTED",
    "RTL_IMPLEMENTED",
    "VALIDATION_CODES",
    "VECTOR_OPCODES",
    "Descriptor",
    "ErrCode",
    "Flag",
    "Opcode",
    "decode",
    "default_tiling",
    "encode_program",
    "geometry",
    "scalar_words",
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
    RELU_BP = 0x07
    MAXPOOL_FP = 0x08
    MAXPOOL_BP = 0x09
    AVGPOOL_FP = 0x0A
    AVGPOOL_BP = 0x0B
    BN_FP = 0x0C
    BN_BP = 0x0D
    BIAS_GRAD = 0x0E
    SGD = 0x0F


class Flag(IntFlag):
    BIAS = 0x01    # CONV_FP / FC_FP: the accumulators start from the bias vector at src2
    RELU = 0x02    # CONV_FP / FC_FP / BN_FP: ReLU on the output; BN_BP: mask by BN_FP's ReLU
    GLOBAL = 0x04  # AVGPOOL_FP / AVGPOOL_BP: the whole H x W map is the window
    SGD = 0x08     # CONV_WU / FC_WU: SGD fused into the write-back (src2 v, dst w; no dW written)


CONV_OPCODES = frozenset({Opcode.CONV_FP, Opcode.CONV_BP, Opcode.CONV_WU,
                          Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU})
VECTOR_OPCODES = frozenset(set(Opcode) - CONV_OPCODES)

# Flags each opcode takes, and how many binary32 scalars (words 13..) it carries.
_FLAGS: dict[int, int] = {
    **{op: 0 for op in Opcode},
    Opcode.CONV_FP: Flag.BIAS | Flag.RELU, Opcode.FC_FP: Flag.BIAS | Flag.RELU,
    Opcode.BN_FP: Flag.RELU, Opcode.BN_BP: Flag.RELU,
    Opcode.CONV_WU: Flag.SGD, Opcode.FC_WU: Flag.SGD,
    Opcode.AVGPOOL_FP: Flag.GLOBAL, Opcode.AVGPOOL_BP: Flag.GLOBAL,
}
# What rtl/eftrain_top.sv implements: opcode -> the flags it takes (anything else is BAD_OPCODE
# there). Today the whole format; a hardware build without some ops would list fewer here.
RTL_IMPLEMENTED: dict[int, int] = {op: int(f) for op, f in _FLAGS.items()}
# What the HLS kernel (hls/) implements: the convolution opcodes with Flag.BIAS (no vector unit,
# no fused ReLU yet).
HLS_IMPLEMENTED: dict[int, int] = {op: int(_FLAGS[op] & Flag.BIAS) for op in CONV_OPCODES}
_SCALARS = {Opcode.BN_FP: 2, Opcode.SGD: 3}
BN_BLOCK_VECTORS = ("gamma", "beta", "running_mean", "running_var", "mean", "invstd", "dgamma", "dbeta")


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
    Opcode.RELU_BP: "bp", Opcode.MAXPOOL_FP: "fp", Opcode.MAXPOOL_BP: "bp",
    Opcode.AVGPOOL_FP: "fp", Opcode.AVGPOOL_BP: "bp", Opcode.BN_FP: "fp", Opcode.BN_BP: "bp",
    Opcode.BIAS_GRAD: "wu", Opcode.SGD: "wu",
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
        if self.opcode in (Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP) and self.flags & Flag.GLOBAL:
            return 1
        return (self.h + 2 * self.pad - self.k) // self.stride + 1

    @property
    def ow(self) -> int:
        if self.opcode in (Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP) and self.flags & Flag.GLOBAL:
            return 1
        return (self.w + 2 * self.pad - self.k) // self.stride + 1

    @property
    def count(self) -> int:
        """SGD: the element count (word 2 as one 32-bit number)."""
        return self.m | (self.n << 16)

    @property
    def scalars(self) -> tuple[float, float, float]:
        """Words 13..15 as binary32 values."""
        return tuple(float(v) for v in np.array(self.reserved[2:5], np.uint32).view(np.float32))

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


def scalar_words(*values: float) -> tuple[int, int, int]:
    """Words 13..15 carrying binary32 ``values`` (at most three; the rest 0), for ``reserved[2:5]``."""
    if len(values) > 3:
        raise ValueError(f"at most 3 scalars fit words 13..15, got {len(values)}")
    words = [int(v) for v in np.array(values, np.float32).view(np.uint32)] + [0] * (3 - len(values))
    return words[0], words[1], words[2]


def encode_program(descs: list[Descriptor]) -> np.ndarray:
    """A program: the descriptors' words one after another (uint32)."""
    if not descs:
        return np.zeros(0, np.uint32)
    return np.concatenate([d.encode() for d in descs])


def _vec_bytes(cfg: HwConfig, c: int) -> int:
    return 4 * -(-c // cfg.tn) * cfg.tn


def _tensor_bytes(d: Descriptor, cfg: HwConfig) -> dict[str, tuple[int, int]]:
    """(address, bytes) of every tensor the descriptor reads or writes, in its DRAM layout."""
    if d.opcode in VECTOR_OPCODES:
        return _vector_tensor_bytes(d, cfg)
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
    t = {"src0": (d.src0, x), "src1": (d.src1, y), "dst": (d.dst, wt)}
    if d.flags & Flag.SGD:
        t["src2"] = (d.src2, wt)
    return t


def _vector_tensor_bytes(d: Descriptor, cfg: HwConfig) -> dict[str, tuple[int, int]]:
    op = Opcode(d.opcode)
    if op == Opcode.SGD:
        n = 4 * d.count
        return {"src0": (d.src0, n), "src1": (d.src1, n), "dst": (d.dst, n)}
    x = fmap_layout(cfg, (d.batch, d.n, d.h, d.w)).nbytes
    y = fmap_layout(cfg, (d.batch, d.n, d.oh, d.ow)).nbytes
    if op == Opcode.RELU_BP:
        return {"src0": (d.src0, x), "src1": (d.src1, x), "dst": (d.dst, x)}
    if op == Opcode.MAXPOOL_FP:
        return {"src0": (d.src0, x), "src2": (d.src2, y), "dst": (d.dst, y)}
    if op == Opcode.MAXPOOL_BP:
        return {"src0": (d.src0, y), "src1": (d.src1, y), "dst": (d.dst, x)}
    if op == Opcode.AVGPOOL_FP:
        return {"src0": (d.src0, x), "dst": (d.dst, y)}
    if op == Opcode.AVGPOOL_BP:
        return {"src0": (d.src0, y), "dst": (d.dst, x)}
    block = len(BN_BLOCK_VECTORS) * _vec_bytes(cfg, d.n)
    if op == Opcode.BN_FP:
        return {"src0": (d.src0, x), "src1": (d.src1, block), "dst": (d.dst, x)}
    if op == Opcode.BN_BP:
        return {"src0": (d.src0, x), "src1": (d.src1, block), "src2": (d.src2, x), "dst": (d.dst, x)}
    return {"src0": (d.src0, x), "dst": (d.dst, _vec_bytes(cfg, d.n))}  # BIAS_GRAD


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


def validate(d: Descriptor, cfg: HwConfig | str, window: tuple[int, int],
             implemented: dict[int, int] | None = None) -> ErrCode:
    """The hardware's verdict on one descriptor: ``ErrCode.NONE`` or the first failing rule.

    Rules, checked in this order (the RTL checks in the same order and reports the first):
    opcode/flags/reserved, zero dimensions, dimension limits, kernel, stride, padding, tiling
    fields (vector ops: their own fields), buffer fit (:mod:`eftrain.tiling`; windowed pooling:
    the vector unit's plane buffer), address alignment (AXI beat), memory window
    ``[base, limit)`` for every tensor. ``implemented``: opcode -> flags the hardware implements
    (anything else is ``BAD_OPCODE``); default the whole format, :data:`RTL_IMPLEMENTED` for
    today's RTL.
    """
    c = preset(cfg)
    base, limit = window
    flags_of = _FLAGS if implemented is None else implemented
    if d.opcode not in flags_of:
        return ErrCode.BAD_OPCODE
    op = Opcode(d.opcode)
    if d.flags & ~int(flags_of[op]) or d.reserved[0] or d.reserved[1]:
        return ErrCode.BAD_OPCODE
    if any(d.reserved[2 + _scalar_count(d):]):
        return ErrCode.BAD_OPCODE
    if op in VECTOR_OPCODES:
        verdict = _validate_vector(d, op, c)
    else:
        verdict = _validate_conv(d, c)
    if verdict != ErrCode.NONE:
        return verdict
    beat = c.bus_bits // 8
    tensors = _tensor_bytes(d, c)
    if any(addr % beat for addr, _ in tensors.values()):
        return ErrCode.MISALIGNED_ADDR
    if any(addr < base or addr + size > limit for addr, size in tensors.values()):
        return ErrCode.OUT_OF_WINDOW
    return ErrCode.NONE


def _validate_conv(d: Descriptor, c: HwConfig) -> ErrCode:
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
    if d.flags & Flag.SGD and (not _sgd_scalars_ok(d)
                               or weight_layout(c, (d.m, d.n, d.k, d.k)).size >= 1 << 32):
        return ErrCode.BAD_FIELD   # the fused SGD is one op of a 32-bit word count
    verdict = _tiling.check(geometry(d, c), c, d.k, d.stride, d.tr, d.chunk)
    if verdict == "field":
        return ErrCode.BAD_FIELD
    if verdict == "buffer":
        return ErrCode.BUFFER_OVERFLOW
    return ErrCode.NONE


def _finite_f32(word: int) -> bool:
    return (word >> 23) & 0xFF != 0xFF


def _sgd_scalars_ok(d: Descriptor) -> bool:
    """lr, momentum, weight decay (words 13..15) finite and >= +0 (sign bit clear)."""
    return all(_finite_f32(v) and not v >> 31 for v in d.reserved[2:5])


def _scalar_count(d: Descriptor) -> int:
    """How many binary32 scalars (words 13..) the descriptor carries."""
    if d.opcode in (Opcode.CONV_WU, Opcode.FC_WU) and d.flags & Flag.SGD:
        return 3
    return _SCALARS.get(Opcode(d.opcode), 0)


def _validate_vector(d: Descriptor, op: Opcode, c: HwConfig) -> ErrCode:
    """Field rules of the vector ops (after opcode/flags/reserved)."""
    if op == Opcode.SGD:
        if d.count == 0:
            return ErrCode.ZERO_DIM
        if (d.batch, d.h, d.w, d.k, d.stride, d.pad, d.tr, d.chunk) != (0,) * 8:
            return ErrCode.BAD_FIELD
        if d.count % c.words_per_beat:
            return ErrCode.BAD_FIELD
        if not _sgd_scalars_ok(d):
            return ErrCode.BAD_FIELD
        return ErrCode.NONE
    if 0 in (d.batch, d.m, d.n, d.h, d.w):
        return ErrCode.ZERO_DIM
    if max(d.batch, d.m, d.n, d.h, d.w) > MAX_DIM:
        return ErrCode.DIM_TOO_LARGE
    pool = op in (Opcode.MAXPOOL_FP, Opcode.MAXPOOL_BP, Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP)
    windowed = pool and not d.flags & Flag.GLOBAL
    if windowed:
        if not 1 <= d.k <= 7 or d.h < d.k or d.w < d.k:
            return ErrCode.BAD_KERNEL
        if not 1 <= d.stride <= 4:
            return ErrCode.BAD_STRIDE
    else:
        if d.k != 1:
            return ErrCode.BAD_KERNEL
        if d.stride != 1:
            return ErrCode.BAD_STRIDE
    if d.pad != 0:
        return ErrCode.BAD_PADDING
    if d.m != d.n or d.tr or d.chunk:
        return ErrCode.BAD_FIELD
    if op in (Opcode.BN_FP, Opcode.BN_BP):
        n = d.batch * d.h * d.w
        if not 2 <= n <= 1 << 24:   # float32(n) and float32(n - 1) exact, n - 1 > 0
            return ErrCode.BAD_FIELD
        if op == Opcode.BN_FP:
            eps, mom = d.reserved[2:4]
            if not (_finite_f32(eps) and not eps >> 31 and eps & 0x7FFFFFFF):
                return ErrCode.BAD_FIELD   # eps > 0
            if not (_finite_f32(mom) and not mom >> 31 and mom <= 0x3F800000):
                return ErrCode.BAD_FIELD   # 0 <= momentum <= 1
    if pool and d.flags & Flag.GLOBAL and d.h * d.w > 1 << 24:
        return ErrCode.BAD_FIELD   # float32(H * W) exact
    if windowed:
        plane = (d.h * d.w if op in (Opcode.MAXPOOL_FP, Opcode.AVGPOOL_FP)
                 else d.oh * d.ow * (2 if op == Opcode.MAXPOOL_BP else 1))
        if plane * c.tn > c.vu_buf_depth:
            return ErrCode.BUFFER_OVERFLOW
    return ErrCode.NONE
