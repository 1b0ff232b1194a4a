"""Host runtime: DRAM memory plans and descriptor programs for the accelerator top level.

The accelerator (``rtl/eftrain_top.sv``; the HLS kernel and, later, the board) reads every tensor
from DRAM in the reshaped layouts of :mod:`eftrain.golden.layout` and runs a descriptor program
(:mod:`eftrain.descriptors`). This module does the host's part, independent of how memory and
registers are reached (simulation or board):

* :class:`MemoryPlan`: a bump allocator over the DMA window (64-byte aligned regions, so every
  tensor starts on an AXI beat of any bus width) holding the initial contents of each region.
* :func:`layer_program`: one layer phase (FP, BP or WU of a convolution or a fully connected
  layer) as a memory plan plus its descriptor (tiling from :func:`eftrain.descriptors.with_tiling`)
  and a decoder that turns the result region back into a NumPy array.

Output regions are pre-filled with a signalling-NaN pattern (:data:`POISON`), so a word the
hardware should have written but did not shows up as a mismatch instead of a lucky zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.descriptors import Descriptor, Flag, Opcode, encode_program, with_tiling
from eftrain.golden.layout import fmap_layout, weight_layout
from eftrain.tiling import folded

__all__ = ["POISON", "LayerProgram", "MemoryPlan", "Region", "layer_program", "program_of"]

POISON = np.uint32(0x7FA5_5A5A)   # a signalling NaN: never produced by the arithmetic
ALIGN = 64


@dataclass
class Region:
    """One allocation: ``words`` 32-bit words at byte address ``addr`` with initial ``data``."""

    name: str
    addr: int
    data: np.ndarray  # uint32

    @property
    def nbytes(self) -> int:
        return 4 * int(self.data.size)

    @property
    def end(self) -> int:
        return self.addr + self.nbytes


@dataclass
class MemoryPlan:
    """Regions allocated upwards from ``base`` inside the window ``[base, limit)``."""

    base: int
    limit: int
    regions: dict[str, Region] = field(default_factory=dict)
    top: int = 0

    def __post_init__(self) -> None:
        if self.base % ALIGN or self.limit <= self.base:
            raise ValueError(f"window [{self.base:#x}, {self.limit:#x}) must be non-empty and "
                             f"{ALIGN}-byte aligned")
        self.top = self.base

    def alloc(self, name: str, data: np.ndarray) -> int:
        """Place ``data`` (uint32 words) in a new region; returns its byte address."""
        if name in self.regions:
            raise ValueError(f"region {name!r} already allocated")
        words = np.ascontiguousarray(data).view(np.uint32).reshape(-1)
        addr = self.top
        end = addr + 4 * words.size
        if end > self.limit:
            raise ValueError(f"region {name!r} ({4 * words.size} bytes) does not fit the window "
                             f"[{self.base:#x}, {self.limit:#x})")
        self.regions[name] = Region(name, addr, words.copy())
        self.top = -(-end // ALIGN) * ALIGN
        return addr

    @property
    def used(self) -> tuple[int, int]:
        """Byte range ``[base, top)`` the regions occupy."""
        return self.base, self.top


@dataclass
class LayerProgram:
    """A layer phase ready to run: memory, program, and how to read the result."""

    plan: MemoryPlan
    descriptors: list[Descriptor]
    prog_addr: int
    output: str                                   # region holding the result
    decode: Callable[[np.ndarray], np.ndarray]    # result region words -> array
    macs: int

    @property
    def program_words(self) -> np.ndarray:
        return encode_program(self.descriptors)


def _f32_words(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def layer_program(cfg: HwConfig | str, phase: str, *, x: np.ndarray | None = None,
                  w: np.ndarray | None = None, dy: np.ndarray | None = None,
                  bias: np.ndarray | None = None, x_shape: tuple[int, ...] | None = None,
                  w_shape: tuple[int, ...] | None = None, stride: int = 1, padding: int = 0,
                  window: tuple[int, int] = (0x1000_0000, 0x1200_0000),
                  tiling: tuple[int, int] | None = None, plan: MemoryPlan | None = None,
                  prefix: str = "", program: bool = True, relu: bool = False) -> LayerProgram:
    """One layer phase as a memory plan and a one-descriptor program.

    ``fp``: x, w (, bias) -> y. ``bp``: dy, w, x_shape -> dx. ``wu``: x, dy, w_shape -> dw.
    Arrays are float32 NCHW / MNKK (bits are kept exactly). A layer with H = W = K = 1,
    stride 1, padding 0 runs as a fully connected layer (FC opcodes). ``plan``: allocate in an
    existing plan (region names get ``prefix``); ``program=False``: do not allocate the program
    (see :func:`program_of`). ``relu``: FP with ``Flag.RELU`` (ReLU fused into the store).
    """
    c = preset(cfg)
    if plan is None:
        plan = MemoryPlan(*window)
    if phase == "fp":
        assert x is not None and w is not None
        b, n, h, wd = x.shape
        m, _, k, _ = w.shape
    elif phase == "bp":
        assert dy is not None and w is not None and x_shape is not None
        b, n, h, wd = x_shape
        m, _, k, _ = w.shape
    elif phase == "wu":
        assert x is not None and dy is not None and w_shape is not None
        b, n, h, wd = x.shape
        m, _, k, _ = w_shape
    else:
        raise ValueError(f"phase must be fp, bp or wu, got {phase!r}")
    if relu and phase != "fp":
        raise ValueError("relu: only an FP store applies ReLU")
    oh = (h + 2 * padding - k) // stride + 1
    ow = (wd + 2 * padding - k) // stride + 1
    fc = folded(h, wd, k, stride, padding)
    op = {("fp", False): Opcode.CONV_FP, ("bp", False): Opcode.CONV_BP, ("wu", False): Opcode.CONV_WU,
          ("fp", True): Opcode.FC_FP, ("bp", True): Opcode.FC_BP, ("wu", True): Opcode.FC_WU}[(phase, fc)]
    xl = fmap_layout(c, (b, n, h, wd))
    yl = fmap_layout(c, (b, m, oh, ow))
    wl = weight_layout(c, (m, n, k, k))
    beat = c.bus_bits // 8
    addr = {"src0": 0, "src1": 0, "src2": 0, "dst": 0}
    flags = 0

    def put(name: str, data: np.ndarray) -> int:
        return plan.alloc(prefix + name, data)

    if phase == "fp":
        addr["src0"] = put("x", xl.pack(x))
        addr["src1"] = put("w", wl.pack(w))
        if bias is not None:
            words = -(-4 * m // beat) * beat // 4
            bv = np.zeros(words, np.uint32)
            bv[:m] = _f32_words(bias)
            addr["src2"] = put("bias", bv)
            flags = Flag.BIAS
        if relu:
            flags |= Flag.RELU
        addr["dst"] = put("y", np.full(yl.size, POISON, np.uint32))
        out, lay, shape = "y", yl, (b, m, oh, ow)
    elif phase == "bp":
        addr["src0"] = put("dy", yl.pack(dy))
        addr["src1"] = put("w", wl.pack(w))
        addr["dst"] = put("dx", np.full(xl.size, POISON, np.uint32))
        out, lay, shape = "dx", xl, (b, n, h, wd)
    else:
        addr["src0"] = put("x", xl.pack(x))
        addr["src1"] = put("dy", yl.pack(dy))
        addr["dst"] = put("dw", np.full(wl.size, POISON, np.uint32))
        out, lay, shape = "dw", wl, (m, n, k, k)
    d = Descriptor(opcode=op, flags=flags, batch=b, m=m, n=n, h=h, w=wd, k=k, stride=stride,
                   pad=padding, **addr)
    d = with_tiling(d, c, tiling)
    prog = plan.alloc(prefix + "program", encode_program([d])) if program else 0

    def decode(words: np.ndarray) -> np.ndarray:
        return np.asarray(lay.unpack(words), dtype=np.float32).reshape(shape)

    macs = b * m * n * k * k * (oh * ow)
    return LayerProgram(plan, [d], prog, prefix + out, decode, macs)


def program_of(plan: MemoryPlan, layers: list[LayerProgram], name: str = "program") -> int:
    """Allocate one program running ``layers``' descriptors in order; returns its address."""
    return plan.alloc(name, encode_program([d for lp in layers for d in lp.descriptors]))
