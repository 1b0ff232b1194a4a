"""Sequence items of the layer-level environment and what the driver makes of them.

Plain Python (NumPy and :mod:`eftrain`, no simulator): the sequences use it to draw and check
stimuli, the driver to put them into DRAM, the scoreboard to predict the outcome.

:class:`LayerItem`
    one layer phase (FP, BP or WU of a convolution or a folded FC layer): the shape class it was
    drawn for, ``B, M, N, H, W, K, S, P``, the tiling ``(tr, chunk)`` (``None``: the analytical
    model's choice), bias, the seed of its tensors, and optionally a :class:`Mutation` that makes
    its descriptor illegal (or, for ``src2_garbage``, legal but odd).
:class:`ProgramItem`
    one descriptor program: its layers plus what the run is exposed to (DRAM read latency, AXI
    pause level and seed, fault regions, a soft reset after some cycles, a program-level
    mutation such as ``PROG_COUNT = 0`` or a misaligned program base).
:class:`Stimulus`
    a program item *realized* for a configuration and a DMA window (:func:`realize`): the memory
    plan of :mod:`eftrain.program` with every tensor, the descriptor words after mutation, the
    program base/count the host writes, the fault regions, and the predicted outcome
    (:class:`Expect`): the error code and descriptor index the hardware must report
    (:func:`eftrain.descriptors.validate` per descriptor, the program checks of
    ``rtl/eftrain_top.sv``, the first faulted layer), which layers must complete, which DRAM bytes
    may change.

Shape classes (the coverage bins per phase, :func:`layer_bins` reads them off a descriptor):
``padding`` (P > 0), ``stride2`` (S = 2), ``k1`` (K = 1, not folded), ``folded`` (FC: H = W = K =
S = 1, P = 0), ``row_tiles`` (more than one row tile), ``chunks`` (more than one weight chunk),
``lanes_partial`` (output lanes not a multiple of Tm), ``bias`` (FP only).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
from pyuvm import uvm_sequence_item

from eftrain import program as prog
from eftrain import tiling
from eftrain.config import HwConfig, preset
from eftrain.descriptors import (
    DESC_BYTES,
    RTL_IMPLEMENTED,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    decode,
    default_tiling,
    geometry,
    validate,
    with_tiling,
)
from eftrain.golden.layout import fmap_layout, weight_layout
from tb.top_uvm import waivers

__all__ = [
    "ADDR_W",
    "COVER_BINS",
    "MUTATIONS",
    "PHASES",
    "PROG_MUTATIONS",
    "SHAPE_CLASSES",
    "SPACE_TOP",
    "Expect",
    "LayerItem",
    "LayerStim",
    "Mutation",
    "ProgramItem",
    "Stimulus",
    "apply_mutation",
    "layer_bins",
    "random_layer",
    "random_mutation",
    "realize",
    "reload_hazard",
]

ADDR_W = 40
SPACE_TOP = (1 << ADDR_W) - 64           # the RTL clamps WINDOW_LIMIT to this (eftrain_top.sv)
TOP64 = 1 << 64
PHASES = ("fp", "bp", "wu")
SHAPE_CLASSES = ("padding", "stride2", "k1", "folded", "row_tiles", "chunks", "lanes_partial", "bias")
COVER_BINS = tuple((ph, cl) for ph in PHASES for cl in SHAPE_CLASSES if cl != "bias" or ph == "fp")
SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -3e-42, 3e38, -1e-38], np.float32)
RESP_CODE = {2: ErrCode.AXI_SLVERR, 3: ErrCode.AXI_DECERR}

# Descriptor-level mutations (random_mutation draws one; the oracle is always validate(), so a
# mutation only aims at a rule): opcode (invalid opcode), flags (undefined flag, BIAS outside FP),
# reserved (a reserved field non-zero), zero_dim (B/M/N/H/W = 0), fc_spatial (FC opcode with
# H/W/K/S/P != 1/1/1/1/0), kernel (K = 0, > 7, or larger than the padded map), stride (0 or > 4),
# padding (P >= K), tiling_field (tr / chunk 0 or beyond the layer), buffer (dims or tiling that
# overflow IN/OUT/W_DEPTH), misaligned (a used tensor address off the beat), out_of_window (a
# used tensor below, across or beyond the window, beyond 2^40, wrapping 2^64), flip (1..3 random
# bit flips anywhere), random_field (one field, by bit range, set to a random/boundary value).
MUTATIONS = ("opcode", "flags", "reserved", "zero_dim", "fc_spatial", "kernel", "stride", "padding",
             "tiling_field", "buffer", "misaligned", "out_of_window", "flip", "random_field")
# Program-level mutations (ProgramItem.prog_mutation).
PROG_MUTATIONS = ("count0", "prog_misaligned", "prog_below_base", "prog_past_limit", "prog_far",
                  "count_huge")


# =================================================================================================
# Items
# =================================================================================================

@dataclass(frozen=True)
class Mutation:
    """How a legal descriptor is changed: ``kind`` (one of ``MUTATIONS`` or ``src2_garbage``) and a
    seed for the random choices made when it is applied (addresses are only known then)."""

    kind: str
    seed: int

    def __str__(self) -> str:
        return f"{self.kind}#{self.seed:x}"


class LayerItem(uvm_sequence_item):
    """One layer phase of a program (see the module documentation)."""

    def __init__(self, name: str = "layer") -> None:
        super().__init__(name)
        self.phase = "fp"
        self.shape_class = "any"
        self.b = self.m = self.n = self.h = self.w = self.k = self.s = 1
        self.p = 0
        self.tiling: tuple[int, int] | None = None
        self.bias = False
        self.seed = 0
        self.special = False          # a few NaN/Inf/subnormal/signed-zero inputs
        self.mutation: Mutation | None = None

    # --- derived ---------------------------------------------------------------------------------
    @property
    def oh(self) -> int:
        return (self.h + 2 * self.p - self.k) // self.s + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.p - self.k) // self.s + 1

    @property
    def macs(self) -> int:
        return self.b * self.m * self.n * self.k * self.k * self.oh * self.ow

    def shape(self) -> tuple[int, ...]:
        return (self.b, self.m, self.n, self.h, self.w, self.k, self.s, self.p)

    def copy_from(self, other: LayerItem) -> LayerItem:
        for key in ("phase", "shape_class", "b", "m", "n", "h", "w", "k", "s", "p", "tiling", "bias",
                    "seed", "special", "mutation"):
            setattr(self, key, getattr(other, key))
        return self

    def __str__(self) -> str:
        b, m, n, h, w, k, s, p = self.shape()
        extra = (" bias" if self.bias else "") + (" special" if self.special else "")
        mut = f" mut={self.mutation}" if self.mutation else ""
        return (f"{self.phase}[{self.shape_class}] B{b} M{m} N{n} {h}x{w} K{k} S{s} P{p} "
                f"tiling={self.tiling}{extra} seed={self.seed:#x}{mut}")

    # --- tensors ---------------------------------------------------------------------------------
    def _rand(self, rng: np.random.Generator, *shape: int) -> np.ndarray:
        a = rng.standard_normal(shape).astype(np.float32)
        if self.special:
            mask = rng.random(shape) < 0.03
            a[mask] = rng.choice(SPECIALS, size=int(mask.sum()))
        return a

    def tensors(self) -> dict[str, np.ndarray]:
        """The layer's inputs (float32, drawn from ``seed``): fp x, w (, bias); bp dy, w; wu x, dy."""
        rng = np.random.default_rng(self.seed)
        b, m, n, h, w, k = self.b, self.m, self.n, self.h, self.w, self.k
        if self.phase == "fp":
            t = {"x": self._rand(rng, b, n, h, w), "w": self._rand(rng, m, n, k, k)}
            if self.bias:
                t["bias"] = self._rand(rng, m)
            return t
        if self.phase == "bp":
            return {"dy": self._rand(rng, b, m, self.oh, self.ow), "w": self._rand(rng, m, n, k, k)}
        return {"x": self._rand(rng, b, n, h, w), "dy": self._rand(rng, b, m, self.oh, self.ow)}

    def golden(self, cfg: HwConfig, t: dict[str, np.ndarray]) -> np.ndarray:
        """The golden result of this layer (eftrain.golden.engine: the hardware's order)."""
        from eftrain.golden import engine  # torch: only where results are checked

        shape_x = (self.b, self.n, self.h, self.w)
        if self.phase == "fp":
            return engine.conv_fp(t["x"], t["w"], t.get("bias"), self.s, self.p, cfg)
        if self.phase == "bp":
            return engine.conv_bp(t["dy"], t["w"], shape_x, self.s, self.p, cfg)
        return engine.conv_wu(t["x"], t["dy"], (self.m, self.n, self.k, self.k), self.s, self.p, cfg)


class ProgramItem(uvm_sequence_item):
    """One descriptor program and the conditions it runs under (see the module documentation)."""

    def __init__(self, name: str = "program") -> None:
        super().__init__(name)
        self.layers: list[LayerItem] = []
        self.latency = 20                       # DRAM read latency (cycles)
        self.pause_level = 0.0                  # Dram.pause level (0: no back-pressure)
        self.pause_seed = 0
        self.faults: list[tuple[int, str, int]] = []   # (layer index, tensor | "program", resp)
        self.soft_reset_at: int | None = None   # CTRL.SOFT_RESET this many cycles after START
        self.soft_reset_gate: object = None     # optional predicate(dut): also wait until true
        self.prog_mutation: str | None = None
        self.prog_seed = 0
        self.repeat_tag: str | None = None      # runs with the same tag must leave the same DRAM
        self.max_cycles: int | None = None      # timeout override (default: estimated)
        self.run_cycles = 0                     # filled by the driver: START to interrupt
        self._stim: tuple[tuple[object, ...], Stimulus] | None = None

    def __str__(self) -> str:
        head = (f"{self.get_name()}: {len(self.layers)} layer(s), latency {self.latency}, "
                f"pause {self.pause_level:.2f}/{self.pause_seed:#x}")
        if self.prog_mutation:
            head += f", program {self.prog_mutation}#{self.prog_seed:x}"
        if self.faults:
            head += f", faults {self.faults}"
        if self.soft_reset_at is not None:
            head += f", soft reset at +{self.soft_reset_at}"
        return head + "".join(f"\n    [{i}] {li}" for i, li in enumerate(self.layers))

    def clone_program(self, name: str) -> ProgramItem:
        """The same program (same layers, same seeds) as a new item; run knobs copied too."""
        p = ProgramItem(name)
        p.layers = [LayerItem(li.get_name()).copy_from(li) for li in self.layers]
        for key in ("latency", "pause_level", "pause_seed", "faults", "soft_reset_at", "prog_mutation",
                    "prog_seed", "repeat_tag", "max_cycles"):
            setattr(p, key, getattr(self, key))
        p.faults = list(self.faults)
        return p

    def stimulus(self, cfg: HwConfig, window: tuple[int, int]) -> Stimulus:
        """:func:`realize` of this item, cached (the sequence and the driver share one)."""
        if self._stim is None or self._stim[0] != (cfg.name, window, str(self)):
            stim = realize(self, cfg, window)      # fills in the tiling of DSE-tiled layers
            self._stim = ((cfg.name, window, str(self)), stim)
        return self._stim[1]

    def estimate_cycles(self, cfg: HwConfig) -> int:
        """A generous bound on the run time (the driver's timeout; never a hang)."""
        if self.max_cycles is not None:
            return self.max_cycles
        per_mac = 1.0 / (cfg.tm * cfg.tn)
        stretch = 1 + 4 * self.pause_level
        total = 20_000
        for li in self.layers:
            total += int(30_000 + stretch * (40 * li.macs * per_mac + 200 * (self.latency + 20)))
        return 4 * total


# =================================================================================================
# Random legal layers
# =================================================================================================

def _lanes_red(phase: str, m: int, n: int) -> tuple[int, int]:
    """(output lanes, reduction channels) of a phase."""
    return (n, m) if phase == "bp" else (m, n)


def random_layer(rng: random.Random, cfg: HwConfig | str, phase: str, shape_class: str, *,
                 max_macs: int = 24_000, max_dim: int = 10, dse: float = 0.2,
                 special: float = 0.1) -> LayerItem:
    """A legal layer of ``phase`` in ``shape_class`` (it usually falls into other classes too):
    channels and map sizes up to ``max_dim``, at most ``max_macs`` multiply-accumulates, the
    analytical model's tiling with probability ``dse``, a few special float inputs with
    probability ``special``."""
    c = preset(cfg)
    if shape_class == "bias" and phase != "fp":
        raise ValueError("the bias class exists for FP only")
    for _ in range(1000):
        li = LayerItem(f"{phase}_{shape_class}")
        li.phase, li.shape_class = phase, shape_class
        li.seed = rng.getrandbits(48)
        li.special = rng.random() < special
        if shape_class == "folded":
            li.b, li.m, li.n = rng.randint(2, 12), rng.randint(1, max_dim + 4), rng.randint(1, max_dim + 4)
            li.h = li.w = li.k = li.s = 1
            li.p = 0
        else:
            li.k = rng.choice((1, 2, 3, 3, 3, 4, 5, 7))
            li.s = rng.choice((1, 1, 1, 2, 3, 4))
            li.p = rng.randint(0, li.k - 1)
            if shape_class == "padding":
                li.k = rng.choice((2, 3, 3, 5))
                li.p = rng.randint(1, li.k - 1)
            elif shape_class == "stride2":
                li.s = 2
            elif shape_class == "k1":
                li.k, li.p = 1, 0
            li.b = rng.randint(1, 3)
            li.m, li.n = rng.randint(1, max_dim), rng.randint(1, max_dim)
            lo = max(1, li.k - 2 * li.p)
            li.h, li.w = rng.randint(lo, max(lo, max_dim)), rng.randint(lo, max(lo, max_dim))
            if shape_class == "row_tiles":
                li.h = max(li.h, li.k + 2 * li.s)
        lanes, red = _lanes_red(phase, li.m, li.n)
        if shape_class == "chunks" and red <= c.tn:
            red = rng.randint(c.tn + 1, 3 * c.tn + 2)
        if shape_class == "lanes_partial" and lanes % c.tm == 0:
            lanes += rng.randint(1, c.tm - 1)
        li.m, li.n = (red, lanes) if phase == "bp" else (lanes, red)
        li.bias = phase == "fp" and (shape_class == "bias" or rng.random() < 0.3)
        if tiling.folded(li.h, li.w, li.k, li.s, li.p) != (shape_class == "folded"):
            continue
        if li.oh < 1 or li.ow < 1 or li.macs > max_macs:
            continue
        op = {"fp": Opcode.CONV_FP, "bp": Opcode.CONV_BP, "wu": Opcode.CONV_WU}[phase]
        g = geometry(Descriptor(opcode=op, batch=li.b, m=li.m, n=li.n, h=li.h, w=li.w, k=li.k,
                                stride=li.s, pad=li.p), c)
        if shape_class == "row_tiles" and g.rows < 2:
            continue
        if shape_class == "chunks" and g.red_tiles < 2:
            continue
        t = _random_tiling(rng, c, g, li, shape_class, dse)
        if t is False:
            continue
        if t is None:       # the analytical model's choice (eftrain.perf DSE)
            d = with_tiling(Descriptor(opcode=op, batch=li.b, m=li.m, n=li.n, h=li.h, w=li.w, k=li.k,
                                       stride=li.s, pad=li.p), c)
            t = (d.tr, d.chunk)
        li.tiling = t
        if waivers.WAIVE_RELOAD_HAZARD and reload_hazard(phase, g, *t):
            continue
        return li
    raise RuntimeError(f"no legal {phase} layer of class {shape_class} found")


def _random_tiling(rng: random.Random, c: HwConfig, g: tiling.PhaseGeometry, li: LayerItem,
                   shape_class: str, dse: float) -> tuple[int, int] | bool | None:
    """A legal (tr, chunk), None for the analytical model's choice, or False if none fits."""
    if shape_class not in ("row_tiles", "chunks") and rng.random() < dse:
        return None
    for _ in range(50):
        if shape_class == "row_tiles":
            tr = rng.randint(1, g.rows - 1)
        else:
            tr = g.rows if rng.random() < 0.5 else rng.randint(1, g.rows)
        if shape_class == "chunks":
            chunk = rng.randint(1, g.red_tiles - 1)
        else:
            chunk = g.red_tiles if rng.random() < 0.5 else rng.randint(1, g.red_tiles)
        if tiling.check(g, c, li.k, li.s, tr, chunk) is None:
            return tr, chunk
    try:
        t = default_tiling(Descriptor(opcode=Opcode.CONV_FP, batch=li.b, m=li.m, n=li.n, h=li.h,
                                      w=li.w, k=li.k, stride=li.s, pad=li.p), c)
    except ValueError:
        return False
    return t if shape_class not in ("row_tiles", "chunks") else False


def reload_hazard(phase: str, g: tiling.PhaseGeometry, tr: int, chunk: int) -> bool:
    """Whether a legal FP/BP tiling runs into the partial-output reload hazard of
    ``eftrain_layer_seq`` (:mod:`tb.top_uvm.waivers`): more than one weight chunk and a single
    output tile per chunk pass (one image or a folded layer, one row tile)."""
    one_tile = g.images == 1 and -(-g.rows // tr) == 1
    return phase != "wu" and one_tile and -(-g.red_tiles // chunk) > 1


def layer_bins(d: Descriptor, cfg: HwConfig | str) -> set[str]:
    """The shape classes a (legal) descriptor falls into."""
    c = preset(cfg)
    g = geometry(d, c)
    bins = set()
    if g.folded:
        bins.add("folded")
    else:
        if d.pad > 0:
            bins.add("padding")
        if d.stride == 2:
            bins.add("stride2")
        if d.k == 1:
            bins.add("k1")
    if -(-g.rows // d.tr) > 1:
        bins.add("row_tiles")
    if -(-g.red_tiles // d.chunk) > 1:
        bins.add("chunks")
    if g.lanes % c.tm:
        bins.add("lanes_partial")
    if d.flags & Flag.BIAS:
        bins.add("bias")
    return bins


# =================================================================================================
# Mutations
# =================================================================================================

def random_mutation(rng: random.Random, kind: str | None = None) -> Mutation:
    return Mutation(kind or rng.choice(MUTATIONS), rng.getrandbits(32))


def _used_addrs(d: Descriptor, cfg: HwConfig) -> dict[str, int]:
    """Byte size of every tensor the descriptor really uses (as validate() sees them)."""
    from eftrain.descriptors import _tensor_bytes  # the one definition of the checked tensors

    return {name: size for name, (_, size) in _tensor_bytes(d, cfg).items()}


def apply_mutation(mut: Mutation, d: Descriptor, cfg: HwConfig, window: tuple[int, int]) -> np.ndarray:
    """The 16 words of ``d`` changed by ``mut`` (deterministic in ``mut.seed``)."""
    rng = random.Random(mut.seed)
    c = cfg
    beat = c.bus_bits // 8
    base, limit = window
    rep = dataclasses.replace
    kind = mut.kind
    fc = {Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU}
    if kind == "opcode":
        d = rep(d, opcode=rng.choice([0, *range(16, 256)]))   # 0x07..0x0F are the vector ops
    elif kind == "flags":
        if d.phase != "fp" and rng.random() < 0.4:
            d = rep(d, flags=d.flags | Flag.BIAS)
        else:
            d = rep(d, flags=d.flags | (1 << rng.randint(2, 7)))   # bit 1 (RELU) is legal on FP
    elif kind == "reserved":
        slot = rng.randrange(5)
        width = (16, 4, 32, 32, 32)[slot]
        r = list(d.reserved)
        r[slot] = rng.choice([1, 1 << (width - 1), rng.randrange(1, 1 << width)])
        d = rep(d, reserved=tuple(r))
    elif kind == "zero_dim":
        d = rep(d, **{rng.choice(("batch", "m", "n", "h", "w")): 0})
    elif kind == "fc_spatial":
        name = rng.choice(("h", "w", "k", "stride", "pad"))
        value = {"h": rng.randint(2, 9), "w": rng.randint(2, 9), "k": rng.randint(2, 7),
                 "stride": rng.randint(2, 4), "pad": rng.randint(1, 6)}[name]
        op = d.opcode if d.opcode in fc else d.opcode + 3
        d = rep(d, opcode=op, **{name: value})
    elif kind == "kernel":
        if rng.random() < 0.5:
            d = rep(d, k=rng.choice([0, *range(8, 16)]))
        else:   # a kernel larger than the padded map
            k = rng.randint(2, 7)
            d = rep(d, k=k, pad=0, h=rng.randint(1, k - 1),
                    opcode=d.opcode - 3 if d.opcode in fc else d.opcode)
    elif kind == "stride":
        d = rep(d, stride=rng.choice([0, *range(5, 16)]))
    elif kind == "padding":
        d = rep(d, pad=rng.randint(d.k, 15))
    elif kind == "tiling_field":
        g = geometry(d, c)
        which = rng.randrange(4)
        if which == 0:
            d = rep(d, tr=0)
        elif which == 1:
            d = rep(d, tr=rng.choice([g.rows + 1, rng.randint(g.rows + 1, 0xFFFF)]))
        elif which == 2:
            d = rep(d, chunk=0)
        else:
            d = rep(d, chunk=rng.choice([g.red_tiles + 1, rng.randint(g.red_tiles + 1, 0xFFFF)]))
    elif kind == "buffer":
        d = _overflow(rng, d, c)
    elif kind == "misaligned":
        name = rng.choice(sorted(_used_addrs(d, c)))
        delta = rng.choice([4, 8, 12, rng.randint(1, beat - 1)])
        d = rep(d, **{name: (getattr(d, name) + delta) % TOP64})
    elif kind == "out_of_window":
        sizes = _used_addrs(d, c)
        name = rng.choice(sorted(sizes))
        size = sizes[name]
        span = -(-size // beat) * beat
        choices = [
            base - beat * rng.randint(1, 64),             # just below the window
            limit - span + beat * rng.randint(1, 64),      # its end passes the limit
            limit,                                         # starts at the limit
            rng.randrange(1 << ADDR_W, TOP64, beat),       # beyond the AXI address space
            TOP64 - beat * rng.randint(1, 64),             # end wraps past 2^64
            0,
        ]
        d = rep(d, **{name: max(0, rng.choice(choices)) % TOP64 // beat * beat})
    elif kind in ("flip", "random_field"):
        return _raw_mutation(rng, kind, d)
    elif kind == "src2_garbage":
        if d.flags & Flag.BIAS:
            return d.encode()
        d = rep(d, src2=rng.choice([rng.getrandbits(64), rng.randint(1, beat - 1), TOP64 - 4]))
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return d.encode()


def _overflow(rng: random.Random, d: Descriptor, c: HwConfig) -> Descriptor:
    """Change dims or tiling so that a buffer overflows (other rules stay satisfied)."""
    rep = dataclasses.replace
    fc = d.opcode >= Opcode.FC_FP
    way = rng.randrange(3)
    if way == 0 and not fc:
        # a wide map: one output row (or its input tile) exceeds OUT_DEPTH / IN_DEPTH
        w = rng.randint(c.out_buf_depth + d.k, 0xFFFF)
        return rep(d, w=w, tr=1)
    if way == 1 and not fc:
        # all rows in one tile: tr * width over OUT_DEPTH
        h = rng.randint(c.out_buf_depth // max(d.ow, 1) + 2, 0x3FFF)
        d = rep(d, h=h)
        return rep(d, tr=geometry(d, c).rows)
    # a weight chunk over W_DEPTH: many reduction tiles in one chunk
    kk = d.k * d.k * (c.acc_interleave if d.phase == "wu" else 1)
    tiles = c.w_buf_depth // kk + rng.randint(1, 40)
    red = min(0xFFFF, tiles * c.tn)
    d = rep(d, m=red) if d.phase == "bp" else rep(d, n=red)
    return rep(d, chunk=min(geometry(d, c).red_tiles, tiles))


def _raw_mutation(rng: random.Random, kind: str, d: Descriptor) -> np.ndarray:
    words = d.encode()
    if kind == "flip":
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(16)
            words[i] ^= np.uint32(1 << rng.randrange(32))
        return words
    # one field (by word and bit range) set to a random value
    fields = [(0, 0, 8), (0, 8, 8), (0, 16, 16), (1, 0, 16), (1, 16, 4), (1, 20, 4), (1, 24, 4),
              (1, 28, 4), (2, 0, 16), (2, 16, 16), (3, 0, 16), (3, 16, 16), (12, 0, 16), (12, 16, 16),
              *((i, 0, 32) for i in range(4, 16))]
    i, lsb, width = rng.choice(fields)
    value = rng.choice([0, 1, (1 << width) - 1, rng.getrandbits(width)])
    mask = ((1 << width) - 1) << lsb
    words[i] = np.uint32((int(words[i]) & ~mask & 0xFFFFFFFF) | (value << lsb))
    return words


# =================================================================================================
# Realization
# =================================================================================================

@dataclass
class Expect:
    """The predicted outcome of a program."""

    code: ErrCode
    index: int | None          # None: any descriptor index (a soft reset)
    ran: int                   # descriptors that complete before the stop (a lower bound if index None)
    runtime: bool              # the stop is an AXI error or a soft reset (the stopped layer may write)
    fetches: bool              # the program check passes (descriptors are fetched)


@dataclass
class LayerStim:
    """One realized layer: its item, descriptor words, output region and layout."""

    item: LayerItem
    words: np.ndarray                   # the 16 descriptor words in DRAM
    desc: Descriptor                    # decode(words): what the hardware sees
    verdict: ErrCode                    # validate(desc)
    inputs: dict[str, np.ndarray]
    out: prog.Region                    # output region (initially POISON)
    regions: dict[str, prog.Region]     # every region of this layer by tensor name
    layout: object                      # output layout (pack/unpack)
    out_shape: tuple[int, ...]


@dataclass
class Stimulus:
    """A program item realized for one configuration and window (see the module documentation)."""

    item: ProgramItem
    cfg: HwConfig
    window: tuple[int, int]             # WINDOW_BASE, WINDOW_LIMIT as written
    window_eff: tuple[int, int]         # clamped as the hardware does
    plan: prog.MemoryPlan
    layers: list[LayerStim]
    prog_region: prog.Region
    prog_base: int
    prog_count: int
    faults: list[tuple[int, int, int]]  # (start, end, resp) byte ranges for Dram.faults
    expect: Expect
    before: bytes = b""                 # the window after the driver wrote it (filled by the driver)

    def describe(self) -> str:
        e = self.expect
        idx = "any" if e.index is None else e.index
        return (f"{self.item}\n  program {self.prog_base:#x} x{self.prog_count}, window "
                f"[{self.window[0]:#x}, {self.window[1]:#x}), expect {e.code.name} at {idx}")


def _out_layout(cfg: HwConfig, li: LayerItem) -> tuple[object, tuple[int, ...]]:
    if li.phase == "fp":
        shape = (li.b, li.m, li.oh, li.ow)
        return fmap_layout(cfg, shape), shape
    if li.phase == "bp":
        shape = (li.b, li.n, li.h, li.w)
        return fmap_layout(cfg, shape), shape
    shape = (li.m, li.n, li.k, li.k)
    return weight_layout(cfg, shape), shape


def realize(item: ProgramItem, cfg: HwConfig | str, window: tuple[int, int]) -> Stimulus:
    """Allocate the memory plan, the descriptors (mutated), the program and predict the outcome."""
    c = preset(cfg)
    beat = c.bus_bits // 8
    base, limit = window
    eff = (base, min(limit, SPACE_TOP))
    plan = prog.MemoryPlan(base, eff[1])
    layers: list[LayerStim] = []
    for i, li in enumerate(item.layers):
        t = li.tensors()
        pre = f"l{i}_"
        kw = {"stride": li.s, "padding": li.p, "tiling": li.tiling, "plan": plan, "prefix": pre,
              "program": False}
        if li.phase == "fp":
            lp = prog.layer_program(c, "fp", x=t["x"], w=t["w"], bias=t.get("bias"), **kw)
        elif li.phase == "bp":
            lp = prog.layer_program(c, "bp", dy=t["dy"], w=t["w"], x_shape=(li.b, li.n, li.h, li.w), **kw)
        else:
            lp = prog.layer_program(c, "wu", x=t["x"], dy=t["dy"], w_shape=(li.m, li.n, li.k, li.k), **kw)
        d = lp.descriptors[0]
        if li.tiling is None:
            li.tiling = (d.tr, d.chunk)       # the analytical model's choice, for the record
        words = d.encode() if li.mutation is None else apply_mutation(li.mutation, d, c, eff)
        dd = decode(words)
        lay, shape = _out_layout(c, li)
        regions = {name[len(pre):]: r for name, r in plan.regions.items() if name.startswith(pre)}
        verdict = validate(dd, c, eff, RTL_IMPLEMENTED)
        layers.append(LayerStim(li, words, dd, verdict, t, plan.regions[lp.output], regions, lay, shape))
    words = np.concatenate([ls.words for ls in layers]) if layers else np.zeros(16, np.uint32)
    prog_addr = plan.alloc("program", words)
    prog_region = plan.regions["program"]
    count = len(layers)
    pbase = prog_addr
    prng = random.Random(item.prog_seed)
    pm = item.prog_mutation
    if pm == "count0":
        count = 0
    elif pm == "prog_misaligned":
        pbase = prog_addr + prng.choice([4, 8, 12, prng.randint(1, beat - 1)])
    elif pm == "prog_below_base":
        pbase = base - DESC_BYTES * prng.randint(1, 8)
    elif pm == "prog_past_limit":
        pbase = eff[1] - DESC_BYTES * prng.randint(0, max(count - 1, 0))
    elif pm == "prog_far":
        pbase = prng.randrange(1 << ADDR_W, TOP64, 64)
    elif pm == "count_huge":
        count = prng.randint((eff[1] - base) // DESC_BYTES + 1, (1 << 24) - 1)
    elif pm is not None:
        raise ValueError(f"unknown program mutation {pm!r}")

    faults: list[tuple[int, int, int]] = []
    fault_stop: tuple[int, int, bool] | None = None    # (descriptor index, resp, on the program)
    for li_idx, what, resp in item.faults:
        if what == "program":
            lo = prog_region.addr + DESC_BYTES * li_idx
            faults.append((lo, lo + DESC_BYTES, resp))
        else:
            r = layers[li_idx].regions[what]
            faults.append((r.addr, r.end, resp))
        if fault_stop is None or li_idx < fault_stop[0]:
            fault_stop = (li_idx, resp, what == "program")

    expect = _predict(item, c, eff, pbase, count, layers, fault_stop)
    return Stimulus(item, c, window, eff, plan, layers, prog_region, pbase, count, faults, expect)


def _predict(item: ProgramItem, c: HwConfig, eff: tuple[int, int], pbase: int, count: int,
             layers: list[LayerStim], fault_stop: tuple[int, int, bool] | None) -> Expect:
    """The outcome ``rtl/eftrain_top.sv`` documents: program checks, then per descriptor the
    first failing validation rule, a fault on its tensors, or the soft reset."""
    beat = c.bus_bits // 8
    if count == 0:
        return Expect(ErrCode.NONE, 0, 0, False, False)
    if pbase % beat:
        return Expect(ErrCode.MISALIGNED_ADDR, 0, 0, False, False)
    if pbase < eff[0] or pbase + DESC_BYTES * count > eff[1]:
        return Expect(ErrCode.OUT_OF_WINDOW, 0, 0, False, False)
    for i, ls in enumerate(layers[:count]):
        faulted = fault_stop is not None and fault_stop[0] == i
        if faulted and fault_stop[2]:             # the fetch of this descriptor fails
            return Expect(RESP_CODE[fault_stop[1]], i, i, True, True)
        if ls.verdict != ErrCode.NONE:
            return Expect(ls.verdict, i, i, False, True)
        if faulted:                               # a read or write of one of its tensors fails
            return Expect(RESP_CODE[fault_stop[1]], i, i, True, True)
    if item.soft_reset_at is not None:
        return Expect(ErrCode.SOFT_RESET_ABORT, None, 0, True, True)
    return Expect(ErrCode.NONE, 0, count, False, True)
