"""Descriptor vectors for the eftrain_desc_check testbench, with their expected verdicts.

The oracle is :func:`eftrain.descriptors.validate` (the whole format, every opcode 0x01..0x0F)
on the *decoded* words (so the hardware and the oracle see the same fields, reserved bits and
scalar words included). :func:`generate` mixes, per configuration:

Convolutions (opcodes 1..6):

``legal``      random layers (conv FP/BP/WU with any K, S, P; FC; folded 1x1 convs; FP with BIAS
               and / or RELU), a legal tiling (``default_tiling``, ``with_tiling``'s DSE choice,
               the largest legal ``tr``/``chunk``, or random legal values), tensors placed inside
               a window (exact fit or with slack, from address 0 up to windows ending at
               2^64 - 1; unused address fields hold garbage)
``perturb``    a legal descriptor with one field changed so that one chosen rule fails (every
               code of ``VALIDATION_CODES``), with boundary values: ``tr``/``chunk`` at the
               buffer limit and one over, addresses at the window edges and one beat over,
               addresses whose end passes 2^64, inverted windows, misaligned unused ``src2``
``edge``       hand-picked shapes: outputs exactly filling OUT_DEPTH (folded B = OUT_DEPTH) and
               one over, weight chunks exactly filling W_DEPTH in WU (``* ACC_L``), maximal
               16-bit dims (sizes far beyond 2^64), sizes just under / over the window

Vector ops (opcodes 7..15):

``vlegal``     every vector opcode with legal flags (RELU on BN, GLOBAL on AVGPOOL), scalars
               (BN_FP eps / momentum, SGD lr / momentum / weight decay, incl. +0, subnormals,
               1.0, the largest finite value) and shapes (windowed pools inside the plane
               buffer, BN's B*H*W in 2..2^24, global pools' H*W up to 2^24, SGD counts up to
               the largest multiple of the bus words below 2^32), placed like ``legal``
``vperturb``   a legal vector descriptor with one field changed so that one chosen rule of that
               opcode fails: every (opcode, code) pair :func:`reachable_pairs` lists
``vedge``      the limits exactly and one over: the plane buffer (plane * Tn = VU_DEPTH), BN
               n = 2 / 2^24 / 2^24 + 1 / 1, global H*W = 2^24 / 2^24 + 1, eps tiny / 0 / -0 /
               negative / NaN / Inf, momentum 1.0 / next float, SGD counts on and off the beat,
               pools with H == K / H < K, stride 5, pad 1, M != N, tr / chunk set, windows that
               end exactly at the last tensor's end and one byte / beat short

Both:

``random``     every field drawn over its whole range (biased to small, boundary and legal values;
               all opcodes, flags and scalar words)
``raw``        16 random 32-bit words (mostly BAD_OPCODE), some with the opcode word fixed up

A vector is one line of 160 hex digits: ``{win_limit, win_base, word 15, ..., word 0}``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eftrain import tiling
from eftrain.config import HwConfig
from eftrain.descriptors import (
    _FLAGS,  # flags each opcode takes, and
    _SCALARS,  # scalar words each opcode carries: the mutations aim just outside them
    CONV_OPCODES,
    VALIDATION_CODES,
    VECTOR_OPCODES,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    _tensor_bytes,  # the tensors validate() checks, with their sizes: exact edges need them
    decode,
    default_tiling,
    geometry,
    scalar_words,
    validate,
    with_tiling,
)

TOP = 1 << 64
MAX16 = 0xFFFF
N_MAX = 1 << 24  # BN: B*H*W <= 2^24; global pools: H*W <= 2^24
PHASE_OPS = {"fp": (Opcode.CONV_FP, Opcode.FC_FP), "bp": (Opcode.CONV_BP, Opcode.FC_BP),
             "wu": (Opcode.CONV_WU, Opcode.FC_WU)}
VECTOR_OPS = tuple(sorted(VECTOR_OPCODES))
POOL_OPS = (Opcode.MAXPOOL_FP, Opcode.MAXPOOL_BP, Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP)
FC_OPS = (Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU)

# binary32 bit patterns
SIGN = 0x80000000
F32_ONE = 0x3F800000
F32_INF = 0x7F800000
F32_MAX = 0x7F7FFFFF


def f32(x: float) -> int:
    """The binary32 bit pattern of ``x``."""
    return scalar_words(x)[0]


def scalar_bits(*words: int) -> tuple[int, int, int]:
    """Words 13..15 (``Descriptor.reserved[2:5]``) from up to three bit patterns (the rest 0)."""
    w = [*words, 0, 0, 0]
    return w[0], w[1], w[2]


def reachable_pairs(cfg: HwConfig) -> set[tuple[int, ErrCode]]:
    """Every (opcode, code) that :func:`validate` can return for some descriptor and window at ``cfg``.

    Every opcode: NONE, BAD_OPCODE, ZERO_DIM, BAD_FIELD (tiling rule 1; the vector ops' field
    rules), MISALIGNED_ADDR, OUT_OF_WINDOW. Convolutions and the fmap vector ops (not SGD, which
    has no kernel fields) also BAD_KERNEL, BAD_STRIDE, BAD_PADDING; but not FC ops, whose
    (H, W, K, S, P) must be (1, 1, 1, 1, 0) (else DIM_TOO_LARGE, FC only). BUFFER_OVERFLOW: CONV_*
    (a 16-bit map overflows any buffer), the windowed pools (likewise the plane buffer), and FC_*
    only if a folded layer can overflow at ``cfg``: the 1 x B tile needs B <= 65535 words of the
    input and output buffers, the weight chunk ``ceil(65535 / Tn)`` tiles (WU: * L) at most.
    """
    common = {ErrCode.NONE, ErrCode.BAD_OPCODE, ErrCode.ZERO_DIM, ErrCode.BAD_FIELD, ErrCode.MISALIGNED_ADDR,
              ErrCode.OUT_OF_WINDOW}
    kernel = {ErrCode.BAD_KERNEL, ErrCode.BAD_STRIDE, ErrCode.BAD_PADDING}
    codes: dict[int, set[ErrCode]] = {}
    for op in Opcode:
        got = set(common)
        if op in FC_OPS:
            got.add(ErrCode.DIM_TOO_LARGE)
            chunk = -(-MAX16 // cfg.tn) * (cfg.acc_interleave if op == Opcode.FC_WU else 1)
            if MAX16 > min(cfg.in_buf_depth, cfg.out_buf_depth) or chunk > cfg.w_buf_depth:
                got.add(ErrCode.BUFFER_OVERFLOW)
        elif op != Opcode.SGD:
            got |= kernel
            if op in CONV_OPCODES or op in POOL_OPS:
                got.add(ErrCode.BUFFER_OVERFLOW)
        codes[op] = got
    assert all(c in VALIDATION_CODES for got in codes.values() for c in got)
    return {(int(op), code) for op, got in codes.items() for code in got}


@dataclass(frozen=True)
class Vector:
    """One descriptor (16 words) with its window and the generator that made it."""

    words: tuple[int, ...]
    base: int
    limit: int
    tag: str

    def hex_line(self) -> str:
        return f"{self.limit:016x}{self.base:016x}" + "".join(f"{w:08x}" for w in reversed(self.words))

    def descriptor(self) -> Descriptor:
        return decode(np.array(self.words, dtype=np.uint32))

    def expected(self, cfg: HwConfig) -> ErrCode:
        return validate(self.descriptor(), cfg, (self.base, self.limit))


def vector(d: Descriptor, base: int, limit: int, tag: str) -> Vector:
    """The vector of ``d`` with the window [base, limit) (both clamped to 64 bits)."""
    return Vector(tuple(int(w) for w in d.encode()), min(max(base, 0), TOP - 1), min(max(limit, 0), TOP - 1),
                  tag)


def write_hex(path: Path, vectors: list[Vector]) -> None:
    path.write_text("\n".join(v.hex_line() for v in vectors) + "\n")


class Gen:
    """Vector generators for one configuration (all draws from ``rng``)."""

    def __init__(self, cfg: HwConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng
        self.beat = cfg.bus_bits // 8

    # -- values -----------------------------------------------------------------------------------
    def dim(self, hi: int, huge: bool = False) -> int:
        """A dimension in 1..hi: mostly small, often near a multiple of Tn / Tm, sometimes hi."""
        r = self.rng
        roll = r.random()
        if huge and roll < 0.5:
            return r.choice([hi, hi - 1, r.randint(max(1, hi // 2), hi)])
        if roll < 0.45:
            return r.randint(1, min(hi, 8))
        if roll < 0.75:
            t = r.choice([self.cfg.tn, self.cfg.tm])
            return max(1, min(hi, t * r.randint(1, 8) + r.choice([-1, 0, 1])))
        if roll < 0.9:
            return r.randint(1, min(hi, 200))
        return r.randint(1, hi)

    def field16(self) -> int:
        r = self.rng
        return r.choice([0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 0xFFFE, 0xFFFF, r.randint(0, 64),
                         r.randint(0, 0xFFFF), r.randint(0, 0xFFFF), r.randint(1, 300)])

    def field4(self) -> int:
        r = self.rng
        return r.choice([0, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 15, r.randint(0, 15)])

    def addr(self) -> int:
        r = self.rng
        roll = r.random()
        if roll < 0.3:
            return r.randrange(0, 1 << 32, self.beat)
        if roll < 0.6:
            return r.randrange(0, TOP, self.beat)
        if roll < 0.8:
            return TOP - self.beat * r.randint(1, 1 << 20)
        return r.randrange(0, TOP)

    def align_up(self, a: int) -> int:
        return -(-a // self.beat) * self.beat

    # -- layers and tilings ---------------------------------------------------------------------
    def layer(self, kind: str | None = None, phase: str | None = None, huge: bool = False) -> Descriptor:
        """A random untiled layer whose field checks pass (a tiling may still not exist)."""
        r, c = self.rng, self.cfg
        kind = kind or r.choice(["conv", "conv", "conv", "conv", "fc", "fold"])
        phase = phase or r.choice(["fp", "bp", "wu"])
        op = PHASE_OPS[phase][1 if kind == "fc" else 0]
        m, n = self.dim(0xFFFF, huge), self.dim(0xFFFF, huge)
        if kind in ("fc", "fold"):
            b = self.dim(min(c.in_buf_depth, c.out_buf_depth, 0xFFFF), huge)
            return Descriptor(opcode=op, batch=b, m=m, n=n)
        k = r.randint(1, 7)
        s = r.choice([1, 1, 2, 2, 3, 4])
        p = r.randint(0, k - 1)
        lo = max(1, k - 2 * p)
        wmax = max(lo, min(0xFFFF, c.in_buf_depth // k - 2 * p, c.out_buf_depth))
        if huge:
            w = max(lo, self.dim(wmax, True))
        else:
            w = r.randint(lo, max(lo, min(wmax, 40))) if r.random() < 0.7 else r.randint(lo, wmax)
        h = self.dim(0xFFFF, huge) if huge or r.random() < 0.1 else r.randint(lo, 64)
        h = max(h, lo)
        b = self.dim(0xFFFF, huge) if huge or r.random() < 0.05 else r.randint(1, 4)
        return Descriptor(opcode=op, batch=b, m=m, n=n, h=h, w=w, k=k, stride=s, pad=p)

    def tile_limits(self, d: Descriptor) -> tuple[int, int] | None:
        """(largest legal tr, largest legal chunk) of ``d``, or None if no tiling fits."""
        c = self.cfg
        g = geometry(d, c)

        def fits(tr: int) -> bool:
            return (g.in_tile_words(tr, d.k, d.stride) <= c.in_buf_depth
                    and g.out_tile_words(tr) <= c.out_buf_depth)

        if not fits(1):
            return None
        lo, hi = 1, min(g.rows, 0xFFFF)  # tr is a 16-bit field
        while lo < hi:  # the tile words grow with tr
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        chunk_max = min(g.red_tiles, c.w_buf_depth // g.w_chunk_words(1, c.acc_interleave))
        return (lo, chunk_max) if chunk_max >= 1 else None

    def tiled(self, d: Descriptor) -> Descriptor | None:
        """``d`` with a legal tiling (None if there is none)."""
        r = self.rng
        lim = self.tile_limits(d)
        if lim is None:
            return None
        tr_max, chunk_max = lim
        roll = r.random()
        if roll < 0.25 and geometry(d, self.cfg).rows <= 4096:
            tr, chunk = default_tiling(d, self.cfg)
        elif roll < 0.55:
            tr, chunk = tr_max, chunk_max
        else:
            tr = r.choice([1, tr_max, r.randint(1, tr_max)])
            chunk = r.choice([1, chunk_max, r.randint(1, chunk_max)])
        out = dataclasses.replace(d, tr=tr, chunk=chunk)
        assert tiling.check(geometry(out, self.cfg), self.cfg, d.k, d.stride, tr, chunk) is None
        return out

    # -- placement --------------------------------------------------------------------------------
    def place(self, d: Descriptor, exact: bool | None = None, top: bool | None = None,
              ) -> tuple[Descriptor, int, int]:
        """``d`` with its tensors placed one after another (beat-aligned) in a window.

        ``exact``: the window is exactly [first address, end of the last tensor). ``top``: the
        window ends at 2^64 - 1. Addresses past 2^64 wrap (such vectors are out of window).
        """
        r = self.rng
        exact = r.random() < 0.3 if exact is None else exact
        top = r.random() < 0.15 if top is None else top
        tensors = _tensor_bytes(d, self.cfg)
        names = list(tensors)
        r.shuffle(names)
        gaps = [0 if exact or r.random() < 0.5 else self.beat * r.randint(1, 64) for _ in names]
        total = sum(self.align_up(tensors[k][1]) + g for k, g in zip(names, gaps, strict=True))
        if top:
            base = max(0, (TOP - 1 - total - (0 if exact else r.randint(0, 4096))) // self.beat * self.beat)
        else:
            base = r.choice([0, self.beat * r.randint(0, 1 << 20), r.randrange(0, 1 << 48, self.beat)])
        cursor = base
        addrs: dict[str, int] = {}
        end = base
        for name, gap in zip(names, gaps, strict=True):
            cursor += gap
            addrs[name] = cursor % TOP
            end = cursor + tensors[name][1]
            cursor += self.align_up(tensors[name][1])
        lead = 0 if exact or r.random() < 0.5 else self.beat * r.randint(1, 8)
        win_base = max(0, base - lead) if not exact else min(addrs.values(), default=base)
        if exact:
            limit = end if not top else min(end, TOP - 1)
        else:
            limit = end + r.choice([0, 1, self.beat, r.randint(0, 1 << 16)])
        limit = min(limit, TOP - 1)
        fields = dict(addrs)
        for name in ("src0", "src1", "src2", "dst"):
            if name not in fields:  # unused: garbage (misaligned, anywhere) most of the time
                fields[name] = 0 if r.random() < 0.3 else r.randrange(0, TOP)
        return dataclasses.replace(d, **fields), win_base, limit

    # -- generators -------------------------------------------------------------------------------
    def legal(self, kind: str | None = None, phase: str | None = None, huge: bool = False,
              dse: bool = False) -> Vector:
        """A legal descriptor (NONE unless its tensors cannot fit below 2^64)."""
        r = self.rng
        for _ in range(1000):
            d = self.layer(kind, phase, huge)
            if d.phase == "fp":
                d = dataclasses.replace(d, flags=r.choice([0, 0, Flag.BIAS, Flag.BIAS, Flag.RELU,
                                                           Flag.BIAS | Flag.RELU]))
            if d.phase == "wu" and r.random() < 0.4:   # SGD fused into the write-back
                sc = r.choice([(0.05, 0.9, 5e-4), (0.0, 0.0, 0.0), (1e-3, 0.0, 0.1)])
                d = dataclasses.replace(d, flags=int(Flag.SGD), reserved=(0, 0, *scalar_words(*sc)))
            if dse:  # the DSE's search grows with the layer: keep these small
                d = dataclasses.replace(d, batch=min(d.batch, 2), m=min(d.m, 48), n=min(d.n, 48),
                                        h=min(d.h, 24), w=min(d.w, 24))
                try:
                    t = with_tiling(d, self.cfg)
                except ValueError:
                    continue
            else:
                t = self.tiled(d)
            if t is None:
                continue
            d, base, limit = self.place(t)
            return vector(d, base, limit, "legal-dse" if dse else "legal")
        raise RuntimeError("no legal layer found in 1000 draws")

    def legal_descriptor(self, **kw: object) -> tuple[Descriptor, int, int]:
        """A legal descriptor whose verdict is NONE, with its window."""
        for _ in range(1000):
            v = self.legal(**kw)  # type: ignore[arg-type]
            if v.expected(self.cfg) == ErrCode.NONE:
                return v.descriptor(), v.base, v.limit
        raise RuntimeError("no NONE descriptor in 1000 draws")

    def perturb(self, target: ErrCode, op: int | None = None) -> Vector:
        """A legal descriptor (of convolution opcode ``op``, default any) with one field changed so
        that (usually) ``target`` fails first."""
        r, c = self.rng, self.cfg
        kind = "fc" if target == ErrCode.DIM_TOO_LARGE else None
        phase = None
        if op is not None:
            kind = "fc" if op in FC_OPS else r.choice(["conv", "conv", "fold"])
            phase = next(p for p, ops in PHASE_OPS.items() if op in ops)
        d, base, limit = self.legal_descriptor(kind=kind, phase=phase)
        rep = dataclasses.replace
        g = geometry(d, c)
        t = target
        if t == ErrCode.BAD_OPCODE:
            choice = r.randint(0, 3)
            if choice == 0:
                d = rep(d, opcode=r.choice([0, 0x10, 0x11, 0x81, 0xFF, r.randint(0x10, 255)]))
            elif choice == 1:
                d = rep(d, flags=d.flags | (1 << r.randint(1, 7)))
            elif choice == 2:
                rsv = list(d.reserved)
                slot = r.randint(0, 4)
                width = (16, 4, 32, 32, 32)[slot]
                rsv[slot] = 1 << r.randrange(width)
                d = rep(d, reserved=tuple(rsv))
            else:  # BIAS on a BP / WU op
                d = rep(d, opcode=r.choice([Opcode.CONV_BP, Opcode.CONV_WU, Opcode.FC_BP, Opcode.FC_WU]),
                        flags=int(Flag.BIAS))
        elif t == ErrCode.ZERO_DIM:
            d = rep(d, **{r.choice(["batch", "m", "n", "h", "w"]): 0})
        elif t == ErrCode.DIM_TOO_LARGE:
            name = r.choice(["h", "w", "k", "stride", "pad"])
            value = {"h": r.choice([2, 0xFFFF]), "w": r.choice([2, 3, 0xFFFF]), "k": r.choice([0, 2, 3, 15]),
                     "stride": r.choice([0, 2, 15]), "pad": r.choice([1, 15])}[name]
            d = rep(d, **{name: value})
        elif t == ErrCode.BAD_KERNEL:
            if r.random() < 0.5:
                d = rep(d, k=r.choice([0, 8, 9, 15]))
            else:  # K larger than the padded map
                k = r.randint(2, 7)
                p = r.randint(0, (k - 2) // 2)
                small = r.randint(1, k - 2 * p - 1)
                d = rep(d, k=k, pad=p, **{r.choice(["h", "w"]): small})
                if d.opcode >= Opcode.FC_FP:
                    d = rep(d, opcode=d.opcode - 3)
        elif t == ErrCode.BAD_STRIDE:
            d = rep(d, stride=r.choice([0, 5, 6, 8, 15]))
            if d.opcode >= Opcode.FC_FP:
                d = rep(d, opcode=d.opcode - 3)
        elif t == ErrCode.BAD_PADDING:
            d = rep(d, pad=r.randint(d.k, 15))
            if d.opcode >= Opcode.FC_FP:
                d = rep(d, opcode=d.opcode - 3)
        elif t == ErrCode.BAD_FIELD:
            choice = r.randint(0, 3)
            if choice == 0:
                d = rep(d, tr=0)
            elif choice == 1:
                d = rep(d, tr=min(0xFFFF, r.choice([g.rows + 1, g.rows + r.randint(1, 100), 0xFFFF])))
            elif choice == 2:
                d = rep(d, chunk=0)
            else:
                d = rep(d, chunk=min(0xFFFF, r.choice([g.red_tiles + 1, 0xFFFF])))
        elif t == ErrCode.BUFFER_OVERFLOW:
            lim = self.tile_limits(d)
            assert lim is not None
            tr_max, chunk_max = lim
            over_w = c.w_buf_depth // g.w_chunk_words(1, c.acc_interleave) + 1
            options = []
            if tr_max < min(g.rows, 0xFFFF):
                options.append({"tr": tr_max + 1})
                options.append({"tr": r.randint(tr_max + 1, min(g.rows, 0xFFFF))})
            if over_w <= g.red_tiles:
                options.append({"chunk": over_w})
            if not options:
                return self.edge_overflow(d.opcode if d.opcode in FC_OPS else None)
            d = rep(d, **r.choice(options))
            del chunk_max
        elif t == ErrCode.MISALIGNED_ADDR:
            used = list(_tensor_bytes(d, c))
            name = r.choice(used) if r.random() < 0.85 else "src2"  # src2 may be unused (then NONE)
            off = r.choice([1, 2, 3, 4, self.beat // 2, self.beat - 4, r.randint(1, self.beat - 1)])
            d = rep(d, **{name: (getattr(d, name) + off) % TOP})
        elif t == ErrCode.OUT_OF_WINDOW:
            return self.out_of_window(d, base, limit)
        else:
            raise ValueError(f"no perturbation for {t!r}")
        return vector(d, base, limit, f"perturb-{t.name}")

    def out_of_window(self, d: Descriptor, base: int, limit: int) -> Vector:
        """A legal descriptor moved or windowed so that (usually) a tensor leaves the window."""
        r = self.rng
        tensors = _tensor_bytes(d, self.cfg)
        name = r.choice(list(tensors))
        size = tensors[name][1]
        lo = min(a for a, _ in tensors.values())
        hi = max(a + s for a, s in tensors.values())
        choice = r.randint(0, 6)
        if choice == 0:  # limit one byte / one beat / a bit below the end
            limit = hi - r.choice([1, self.beat, r.randint(1, 1 << 12)])
        elif choice == 1:  # base one beat above the lowest tensor
            base = lo + r.choice([1, self.beat])
        elif choice == 2:  # a tensor ending exactly at the limit, then one beat over
            a = (limit - size) // self.beat * self.beat
            d = dataclasses.replace(d, **{name: min(TOP - self.beat, max(0, a) + self.beat)})
        elif choice == 3:  # a tensor one beat below the base
            d = dataclasses.replace(d, **{name: (base - self.beat) % TOP})
        elif choice == 4:  # a tensor whose end passes 2^64, with a window up to 2^64 - 1
            limit = TOP - 1
            a = (TOP - size) // self.beat * self.beat + self.beat * r.randint(1, 4)
            d = dataclasses.replace(d, **{name: min(TOP - self.beat, a)})
        elif choice == 5:  # inverted or empty window
            base, limit = max(base, limit), min(base, limit)
            if r.random() < 0.5:
                limit = base
        else:  # a random address
            d = dataclasses.replace(d, **{name: r.randrange(0, TOP, self.beat)})
        return vector(d, base, limit, "perturb-OUT_OF_WINDOW")

    def edge_overflow(self, fc_op: int | None = None) -> Vector:
        """Buffer limits hit exactly (legal) or by one (BUFFER_OVERFLOW). ``fc_op``: an FC layer of
        that opcode one over (folded B, or its weight chunk; :func:`reachable_pairs` says when
        one exists)."""
        r, c = self.rng, self.cfg
        one_over = fc_op is not None or r.random() < 0.5
        fold_b = min(c.out_buf_depth, c.in_buf_depth) + (1 if one_over else 0)
        k = r.choice([1, 1, 2, 3])
        per = k * k * c.acc_interleave
        chunk = c.w_buf_depth // per + (1 if one_over else 0)
        choices = [2]
        if fold_b <= 0xFFFF:
            choices.append(0)
        if chunk * c.tn <= 0xFFFF:
            choices.append(1)
        choice = r.choice(choices)
        if fc_op is not None:
            fc_chunk = c.w_buf_depth // (c.acc_interleave if fc_op == Opcode.FC_WU else 1) + 1
            if fold_b <= 0xFFFF and (fc_chunk * c.tn > 0xFFFF or r.random() < 0.5):
                choice = 0
            else:  # the weight chunk of a 1 x 1 kernel, one tile over W_DEPTH
                n = min(0xFFFF, fc_chunk * c.tn + r.randint(0, c.tn - 1))
                other = self.dim(64)  # FC_BP reduces over M
                m, n = (n, other) if fc_op == Opcode.FC_BP else (other, n)
                d = Descriptor(opcode=fc_op, batch=r.randint(1, 4), m=m, n=n, tr=1, chunk=fc_chunk)
                d, base, limit = self.place(d)
                return vector(d, base, limit, "edge-buffer")
        if choice == 0:  # folded: the output tile is B words
            op = fc_op or r.choice([Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU, Opcode.CONV_FP])
            d = Descriptor(opcode=op, batch=fold_b, m=self.dim(300), n=self.dim(300), tr=1, chunk=1)
        elif choice == 1:  # WU weight chunk: chunk * K*K * L == W_DEPTH (+1 tile)
            n = min(0xFFFF, chunk * c.tn + r.randint(0, c.tn))
            d = Descriptor(opcode=Opcode.CONV_WU, batch=1, m=self.dim(64), n=n, h=k, w=k, k=k, stride=1,
                           pad=0, tr=1, chunk=chunk)
        else:  # FP / BP / WU row tile: the largest tr, and one more
            for i in range(1000):  # (huge maps make the row tile bind in large buffers)
                d = self.layer(kind="conv", huge=i % 2 == 1)
                lim = self.tile_limits(d)
                if lim is not None and lim[0] < min(geometry(d, c).rows, 0xFFFF):
                    break
            else:
                raise RuntimeError("no layer with a binding row-tile limit")
            d = dataclasses.replace(d, tr=lim[0] + (1 if one_over else 0), chunk=1)
        d, base, limit = self.place(d)
        return vector(d, base, limit, "edge-buffer")

    def edge_huge(self) -> Vector:
        """16-bit maximal dims with a legal tiling: sizes far past 2^64 (or just under)."""
        r, c = self.rng, self.cfg
        for _ in range(1000):
            d = self.layer(kind=r.choice(["conv", "conv", "fc", "fold"]), huge=True)
            top = {f: r.randint(0xF000, 0xFFFF) for f in ("batch", "m", "n", "h") if r.random() < 0.8}
            if d.h == 1 and d.w == 1:  # FC / folded: B is bounded by the buffers
                top = {f: v for f, v in top.items() if f in ("m", "n")}
            d = dataclasses.replace(d, **top)
            t = self.tiled(d)
            if t is not None:
                break
        else:
            raise RuntimeError("no huge layer with a tiling")
        tensors = _tensor_bytes(t, c)
        fields = {k: 0 for k in tensors}
        if r.random() < 0.5:  # the largest tensor at address 0 in the whole address space
            return vector(dataclasses.replace(t, **fields), 0, TOP - 1, "edge-huge")
        d, base, limit = self.place(t, top=r.random() < 0.5)
        return vector(d, base, limit, "edge-huge")

    # -- vector ops -------------------------------------------------------------------------------
    @property
    def vu_plane(self) -> int:
        """The largest windowed-pool plane the vector unit's buffer holds (plane * Tn <= depth)."""
        return self.cfg.vu_buf_depth // self.cfg.tn

    def f32_pos(self) -> int:
        """A legal SGD scalar: finite with the sign bit clear (+0, subnormals, max, typical values)."""
        r = self.rng
        return r.choice([0, 1, 0x007FFFFF, 0x00800000, F32_MAX, f32(1e-4), f32(0.01), f32(0.1), f32(0.9),
                         F32_ONE, f32(5.0), r.randrange(0, F32_INF)])

    def f32_bad(self) -> int:
        """A scalar every rule rejects: NaN, +-Inf, -0, negative."""
        r = self.rng
        return r.choice([F32_INF, F32_INF | SIGN, 0x7FC00000, 0x7F800001, 0xFFC00000, F32_MAX | SIGN, SIGN,
                         SIGN | 1, f32(-0.1), SIGN | r.randrange(0, F32_INF)])

    def f32_any(self) -> int:
        r = self.rng
        return r.choice([self.f32_pos, self.f32_bad, lambda: r.getrandbits(32)])()

    def eps(self) -> int:
        """A legal BN_FP eps: finite, > +0."""
        r = self.rng
        return r.choice([1, 2, 0x00800000, f32(1e-5), f32(1e-3), f32(1.0), F32_MAX, r.randrange(1, F32_INF)])

    def momentum(self) -> int:
        """A legal BN_FP momentum: in [+0, 1.0]."""
        r = self.rng
        return r.choice([0, 1, f32(0.1), f32(0.9), F32_ONE, F32_ONE - 1, r.randint(0, F32_ONE)])

    def factor_pair(self, q: int, lo: int, hi: int) -> tuple[int, int] | None:
        """A random (a, b) with a * b == q and lo <= a, b <= hi, or None."""
        pairs = []
        a = 1
        while a * a <= q:
            if q % a == 0:
                pairs += [(x, y) for x, y in ((a, q // a), (q // a, a)) if lo <= x <= hi and lo <= y <= hi]
            a += 1
        return self.rng.choice(pairs) if pairs else None

    def pool_hw(self, op: int, k: int, s: int, q: int) -> tuple[int, int] | None:
        """(H, W) of a windowed pool whose plane, in units (H*W for FP, OH*OW for BP), is ``q``."""
        r = self.rng
        if op in (Opcode.MAXPOOL_FP, Opcode.AVGPOOL_FP):
            return self.factor_pair(q, k, MAX16)
        p = self.factor_pair(q, 1, (MAX16 - k) // s + 1)
        if p is None:
            return None
        return tuple(min(MAX16, (o - 1) * s + k + r.randint(0, s - 1)) for o in p)  # type: ignore[return-value]

    def vlayer(self, op: int, huge: bool = False) -> Descriptor:
        """A random vector-op descriptor of opcode ``op`` whose field checks pass (unplaced)."""
        r, c = self.rng, self.cfg
        if op == Opcode.SGD:
            wpb = c.words_per_beat
            top = (1 << 32) - 1
            count = wpb * r.choice([1, 2, r.randint(1, 64), r.randint(1, 1 << 12), r.randint(1, top // wpb),
                                    top // wpb])
            return Descriptor(opcode=op, batch=0, m=count & 0xFFFF, n=count >> 16, h=0, w=0, k=0, stride=0,
                              reserved=(0, 0, *scalar_bits(self.f32_pos(), self.f32_pos(), self.f32_pos())))
        ch = self.dim(MAX16, huge)
        flags = 0
        k = s = 1
        scal = (0, 0, 0)
        if op in (Opcode.BN_FP, Opcode.BN_BP):
            flags = r.choice([0, Flag.RELU])
            if op == Opcode.BN_FP:
                scal = scalar_bits(self.eps(), self.momentum())
            if huge or r.random() < 0.2:
                h = self.dim(MAX16, True)
                w = r.randint(1, min(MAX16, N_MAX // h))
                b = r.randint(1, max(1, min(MAX16, N_MAX // (h * w))))
            else:
                b, h, w = r.randint(1, 8), r.randint(1, 40), r.randint(1, 40)
            if b * h * w < 2:
                b = 2
        elif op in POOL_OPS and op in (Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP) and r.random() < 0.35:
            flags = Flag.GLOBAL
            b = r.randint(1, 4) if not huge else self.dim(MAX16, True)
            h = self.dim(MAX16, huge) if huge or r.random() < 0.3 else r.randint(1, 32)
            w = r.randint(1, min(MAX16, N_MAX // h)) if r.random() < 0.5 else min(MAX16, N_MAX // h)
            if not huge and r.random() < 0.6:
                w = r.randint(1, min(w, 32))
        elif op in POOL_OPS:  # windowed: the plane must fit the buffer
            f = 2 if op == Opcode.MAXPOOL_BP else 1
            b = r.randint(1, 4) if not huge else self.dim(MAX16, True)
            k = s = h = w = 1  # if no windowed pool fits: a 1x1 window (BUFFER_OVERFLOW)
            for _ in range(100 if self.vu_plane // f >= 1 else 0):
                k = r.choice([1, 2, 2, 2, 3, 3, 4, 5, 6, 7])
                s = r.choice([1, 2, 2, 3, 4, k if k <= 4 else 4])
                units = self.vu_plane // f
                if op in (Opcode.MAXPOOL_FP, Opcode.AVGPOOL_FP):
                    if units < k * k:
                        continue
                    h = r.randint(k, min(MAX16, units // k)) if r.random() < 0.3 else r.randint(k, min(
                        MAX16, units // k, 3 * k + 8))
                    w = r.randint(k, min(MAX16, units // h))
                    if r.random() < 0.3:
                        w = min(MAX16, units // h)  # near the buffer limit
                else:
                    oh = r.randint(1, min(units, (MAX16 - k) // s + 1, 12 if r.random() < 0.7 else MAX16))
                    ow = min(units // oh, (MAX16 - k) // s + 1)
                    ow = ow if r.random() < 0.3 else r.randint(1, ow)
                    h = (oh - 1) * s + k + r.randint(0, min(s - 1, MAX16 - (oh - 1) * s - k))
                    w = (ow - 1) * s + k + r.randint(0, min(s - 1, MAX16 - (ow - 1) * s - k))
                break
        else:  # RELU_BP, BIAS_GRAD: any map
            b = self.dim(MAX16, huge) if huge or r.random() < 0.05 else r.randint(1, 4)
            h = self.dim(MAX16, huge) if huge or r.random() < 0.1 else r.randint(1, 64)
            w = self.dim(MAX16, huge) if huge or r.random() < 0.1 else r.randint(1, 64)
        return Descriptor(opcode=op, flags=int(flags), batch=b, m=ch, n=ch, h=h, w=w, k=k, stride=s,
                          reserved=(0, 0, *scal))

    def vlegal(self, op: int | None = None, huge: bool = False) -> Vector:
        """A legal vector-op descriptor (NONE unless its tensors cannot fit below 2^64)."""
        op = op if op is not None else self.rng.choice(VECTOR_OPS)
        d, base, limit = self.place(self.vlayer(op, huge))
        return vector(d, base, limit, "vlegal")

    def vlegal_descriptor(self, op: int) -> tuple[Descriptor, int, int]:
        """A legal vector-op descriptor of opcode ``op`` whose verdict is NONE, with its window."""
        for _ in range(1000):
            v = self.vlegal(op)
            if v.expected(self.cfg) == ErrCode.NONE:
                return v.descriptor(), v.base, v.limit
        raise RuntimeError(f"no NONE descriptor of opcode {op:#x} in 1000 draws")

    def vperturb(self, op: int, target: ErrCode) -> Vector:
        """A legal descriptor of vector opcode ``op`` with one field changed so that ``target``
        (a code :func:`reachable_pairs` lists for ``op``) fails first."""
        r, c = self.rng, self.cfg
        d, base, limit = self.vlegal_descriptor(op)
        rep = dataclasses.replace
        rsv = list(d.reserved)
        nsc = _SCALARS.get(op, 0)
        windowed = op in POOL_OPS and not d.flags & Flag.GLOBAL
        t = target
        if t == ErrCode.BAD_OPCODE:
            bad_flags = [1 << i for i in range(8) if not (1 << i) & int(_FLAGS[op])]
            options = ["flag", "rsv"] + (["scalar"] if nsc < 3 else [])
            choice = r.choice(options)
            if choice == "flag":
                d = rep(d, flags=d.flags | r.choice(bad_flags) | (r.getrandbits(8) & int(_FLAGS[op])))
            elif choice == "rsv":
                slot = r.randint(0, 1)
                rsv[slot] = 1 << r.randrange((16, 4)[slot])
                d = rep(d, reserved=tuple(rsv))
            else:  # a scalar word the opcode does not take
                rsv[r.randint(2 + nsc, 4)] = r.choice([1, SIGN, F32_ONE, r.getrandbits(32) | 1])
                d = rep(d, reserved=tuple(rsv))
        elif t == ErrCode.ZERO_DIM:
            if op == Opcode.SGD:  # count 0 beats any other field rule
                d = rep(d, m=0, n=0, **({r.choice(["batch", "h", "k", "tr"]): 1} if r.random() < 0.5 else {}))
            else:
                d = rep(d, **{r.choice(["batch", "m", "n", "h", "w"]): 0})
        elif t == ErrCode.BAD_KERNEL:
            if windowed and r.random() < 0.5:  # the window larger than the map
                k = r.randint(2, 7)
                d = rep(d, k=k, stride=min(d.stride, 4), **{r.choice(["h", "w"]): r.randint(1, k - 1)})
            elif windowed:
                d = rep(d, k=r.choice([0, 8, 9, 15]))
            else:
                d = rep(d, k=r.choice([0, 2, 3, 7, 8, 15]))
        elif t == ErrCode.BAD_STRIDE:
            d = rep(d, stride=r.choice([0, 5, 6, 15] if windowed else [0, 2, 3, 4, 5, 15]))
        elif t == ErrCode.BAD_PADDING:
            d = rep(d, pad=r.choice([1, 1, 2, 3, 15, r.randint(1, 15)]))
        elif t == ErrCode.BAD_FIELD:
            return self.vbad_field(d, base, limit)
        elif t == ErrCode.BUFFER_OVERFLOW:
            return self.vpool_limit(op, over=True)
        elif t == ErrCode.MISALIGNED_ADDR:
            used = list(_tensor_bytes(d, c))
            name = r.choice(used)
            off = r.choice([1, 2, 3, 4, self.beat // 2, self.beat - 4, r.randint(1, self.beat - 1)])
            d = rep(d, **{name: (getattr(d, name) + off) % TOP})
        elif t == ErrCode.OUT_OF_WINDOW:
            return self.out_of_window(d, base, limit)
        else:
            raise ValueError(f"no perturbation for {t!r}")
        return vector(d, base, limit, f"vperturb-{t.name}")

    def vbad_field(self, d: Descriptor, base: int, limit: int) -> Vector:
        """``d`` (a legal vector-op descriptor) with one BAD_FIELD rule of its opcode broken."""
        r, c = self.rng, self.cfg
        rep = dataclasses.replace
        op = d.opcode
        rsv = list(d.reserved)
        options = []
        if op == Opcode.SGD:
            options += ["sgd_field", "sgd_beat" if c.words_per_beat > 1 else "sgd_field", "sgd_scalar"]
        else:
            options += ["m_ne_n", "tr_chunk"]
            if op in (Opcode.BN_FP, Opcode.BN_BP):
                options += ["bn_n", "bn_n"]
            if op == Opcode.BN_FP:
                options += ["eps", "eps", "mom", "mom"]
            if op in (Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP) and d.flags & Flag.GLOBAL:
                options += ["glob", "glob"]
        choice = r.choice(options)
        if choice == "sgd_field":
            name = r.choice(["batch", "h", "w", "k", "stride", "pad", "tr", "chunk"])
            d = rep(d, **{name: r.choice([1, 2, 15 if name in ("k", "stride", "pad") else MAX16])})
        elif choice == "sgd_beat":
            wpb = c.words_per_beat
            count = wpb * r.randint(0, ((1 << 32) - wpb) // wpb) + r.randint(1, wpb - 1)
            d = rep(d, m=count & 0xFFFF, n=count >> 16)
        elif choice == "sgd_scalar":
            rsv[2 + r.randint(0, 2)] = self.f32_bad()
            d = rep(d, reserved=tuple(rsv))
        elif choice == "m_ne_n":
            if r.random() < 0.5:
                d = rep(d, m=d.n + 1 if d.n < MAX16 else d.n - 1)
            else:
                d = rep(d, n=d.m - 1 if d.m > 1 else 2)
        elif choice == "tr_chunk":
            d = rep(d, **{r.choice(["tr", "chunk"]): r.choice([1, 2, MAX16, r.randint(1, MAX16)])})
        elif choice == "bn_n":  # B*H*W = 1, or above 2^24
            b, h, w = r.choice([(1, 1, 1), (97, 257, 673), (673, 97, 257), (1, 4097, 4096), (257, 257, 257),
                                (MAX16, MAX16, MAX16), (2, 4096, 2049)])
            d = rep(d, batch=b, h=h, w=w)
        elif choice == "eps":
            rsv[2] = r.choice([0, SIGN, self.f32_bad()])
            d = rep(d, reserved=tuple(rsv))
        elif choice == "mom":
            rsv[3] = r.choice([F32_ONE + 1, f32(2.0), F32_MAX, self.f32_bad()])
            d = rep(d, reserved=tuple(rsv))
        else:  # global pool: H*W above 2^24
            h, w = r.choice([(4097, 4096), (24929, 673), (673, 24929), (MAX16, MAX16), (8193, 2048)])
            d = rep(d, h=h, w=w)
        return vector(d, base, limit, "vperturb-BAD_FIELD")

    def vpool_limit(self, op: int | None = None, over: bool | None = None) -> Vector:
        """A windowed pool whose plane is exactly the buffer's (plane * Tn <= VU_DEPTH, the
        largest plane the opcode can have) or the next plane (BUFFER_OVERFLOW)."""
        r = self.rng
        op = op if op is not None else r.choice(POOL_OPS)
        over = r.random() < 0.5 if over is None else over
        f = 2 if op == Opcode.MAXPOOL_BP else 1
        for _ in range(200):
            k = r.choice([1, 1, 2, 2, 3, 5, 7])
            s = r.randint(1, 4)
            q = self.vu_plane // f + (1 if over else 0)
            if over and r.random() < 0.2:
                q += r.randint(1, 1000)
            hw = self.pool_hw(op, k, s, q) if q >= 1 else None
            if hw is not None:
                break
        else:
            raise RuntimeError(f"no {op!r} shape at the plane buffer's limit")
        ch = self.dim(MAX16)
        d = Descriptor(opcode=op, batch=r.randint(1, 3), m=ch, n=ch, h=hw[0], w=hw[1], k=k, stride=s)
        d, base, limit = self.place(d)
        return vector(d, base, limit, "vedge-plane")

    def vedge(self) -> Vector:
        """Hand-picked vector-op limits: exactly legal, or one over (see the module docstring)."""
        r, c = self.rng, self.cfg
        rep = dataclasses.replace
        kind = r.choice(["plane", "plane", "bn_n", "glob", "eps", "mom", "sgd", "sgd_top", "pool_k",
                         "window"])
        if kind == "plane":
            return self.vpool_limit()
        if kind == "window":  # a tensor ending exactly at the limit, or one byte / beat past it
            op = r.choice(VECTOR_OPS)
            d, base, limit = self.place(self.vlayer(op), exact=True)
            if r.random() < 0.5:
                limit -= r.choice([1, self.beat])
            return vector(d, base, limit, "vedge-window")
        if kind == "bn_n":  # n = 2 and 2^24 (legal), 1 and 2^24 + 1 (BAD_FIELD)
            op = r.choice([Opcode.BN_FP, Opcode.BN_BP])
            d = self.vlayer(op)
            b, h, w = r.choice([(1, 1, 2), (2, 1, 1), (1, 2, 1), (1, 4096, 4096), (256, 256, 256),
                                (1024, 128, 128), (16384, 32, 32),                  # n = 2, 2^24
                                (1, 1, 1), (97, 257, 673), (1, 4097, 4096)])        # n = 1, > 2^24
            d = rep(d, batch=b, h=h, w=w, m=min(d.m, 40), n=min(d.n, 40))
        elif kind == "glob":  # H*W = 2^24 (legal) and 2^24 + 1 (BAD_FIELD)
            op = r.choice([Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP])
            h, w = r.choice([(4096, 4096), (512, 32768), (4097, 4095), (1, MAX16), (MAX16, 256),  # <= 2^24
                             (24929, 673), (4097, 4096), (MAX16, 257)])                              # > 2^24
            d = Descriptor(opcode=op, flags=Flag.GLOBAL, batch=r.randint(1, 2), m=4, n=4, h=h, w=w)
        elif kind == "eps":  # eps tiny (legal) / 0 / -0 / negative / NaN / Inf
            d = self.vlayer(Opcode.BN_FP)
            d = rep(d, reserved=(0, 0, r.choice([1, 0, SIGN, SIGN | 1, 0x7FC00000, F32_INF, F32_INF | SIGN]),
                                 d.reserved[3], 0))
        elif kind == "mom":  # momentum 1.0 and +0 (legal), the next float above 1.0, -0, NaN
            d = self.vlayer(Opcode.BN_FP)
            d = rep(d, reserved=(0, 0, d.reserved[2],
                                 r.choice([F32_ONE, 0, F32_ONE + 1, SIGN, 0x7FC00000, F32_INF]), 0))
        elif kind in ("sgd", "sgd_top"):  # counts on the beat and just off it
            d = self.vlayer(Opcode.SGD)
            wpb = c.words_per_beat
            if kind == "sgd_top":
                count = r.choice([((1 << 32) - 1) // wpb * wpb, (1 << 32) - 1, 1 << 31, (1 << 16) * wpb])
            else:
                count = wpb * r.randint(1, 4) + r.choice([0, 0, 1, wpb - 1, -1])
            d = rep(d, m=count & 0xFFFF, n=count >> 16)
        else:  # windowed pools: H == K (legal); then H < K, stride 5, pad 1, M != N, tr / chunk set
            op = r.choice(POOL_OPS)
            k = r.randint(1, 7)
            d = Descriptor(opcode=op, batch=r.randint(1, 2), m=5, n=5, h=k,
                           w=r.choice([k, r.randint(k, k + 5)]), k=k, stride=r.randint(1, 4))
            if r.random() < 0.5:
                d = rep(d, h=d.w, w=d.h)
            d, base, limit = self.place(d)  # (the sizes of the legal shape: h < k has no output map)
            change = r.choice([{}, {}, {"h": r.randint(1, k - 1)} if k > 1 else {"k": 2, "h": 1},
                               {"stride": 5}, {"pad": 1}, {"m": 6}, {"tr": 1}, {"chunk": 1}])
            return vector(rep(d, **change), base, limit, "vedge-pool_k")
        d, base, limit = self.place(d)
        return vector(d, base, limit, f"vedge-{kind}")

    # -- both ------------------------------------------------------------------------------------
    def random_fields(self) -> Vector:
        """Every field over its whole range, biased to small, boundary and legal values."""
        r = self.rng
        opcode = r.choice([*range(1, 16)] * 2 + [1, 2, 3, 4, 5, 6] * 2 + [0, 0x10, r.randint(0, 255)])
        flags = r.choice([0, 0, 0, 1, 1, 2, 3, 4, r.randint(0, 255)])
        rsv = [0] * 5
        if r.random() < 0.05:
            rsv[r.randint(0, 1)] = 1
        nsc = _SCALARS.get(opcode, 0)
        for i in range(3):  # scalar words: mostly legal for the opcode, sometimes anything
            if i < nsc or r.random() < 0.03:
                rsv[2 + i] = self.f32_any()
        d = Descriptor(
            opcode=opcode, flags=flags, batch=self.field16(), m=self.field16(), n=self.field16(),
            h=self.field16(), w=self.field16(), k=self.field4(), stride=self.field4(), pad=self.field4(),
            src0=self.addr(), src1=self.addr(), src2=self.addr(), dst=self.addr(), tr=self.field16(),
            chunk=self.field16(), reserved=tuple(rsv),
        )
        if opcode in (Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU) and r.random() < 0.5:
            d = dataclasses.replace(d, h=1, w=1, k=1, stride=1, pad=0)
        elif opcode in VECTOR_OPCODES and opcode != Opcode.SGD and r.random() < 0.5:
            d = dataclasses.replace(d, n=d.m, tr=0, chunk=0, pad=0)
            if r.random() < 0.5:
                d = dataclasses.replace(d, k=1, stride=1)
        elif opcode == Opcode.SGD and r.random() < 0.6:
            zero = [f for f in ("batch", "h", "w", "k", "stride", "pad", "tr", "chunk") if r.random() < 0.9]
            d = dataclasses.replace(d, **{f: 0 for f in zero})
        if r.random() < 0.3:  # small maps so that tilings can fit
            d = dataclasses.replace(d, h=r.randint(1, 40), w=r.randint(1, 40))
        base, limit = r.choice([(0, TOP - 1), (self.addr(), self.addr()), (0, self.addr())])
        return vector(d, min(base, TOP - 1), min(limit, TOP - 1), "random")

    def raw(self) -> Vector:
        """16 random words; half with a valid opcode word and zero reserved fields."""
        r = self.rng
        words = [r.getrandbits(32) for _ in range(16)]
        if r.random() < 0.5:
            op = r.randint(1, 15)
            words[0] = op | (r.choice([0, int(_FLAGS[op])]) << 8)
            words[1] &= 0x0FFFFFFF
            nsc = _SCALARS.get(op, 0)
            words[13:16] = [w if i < nsc else 0 for i, w in enumerate(words[13:16])]
        return Vector(tuple(words), r.getrandbits(64), r.getrandbits(64), "raw")


def generate(cfg: HwConfig, seed: int, n_per_code: int = 100, n_legal: int = 1000, n_dse: int = 12,
             n_edge: int = 300, n_random: int = 1200, n_raw: int = 300, n_vlegal: int = 600,
             n_per_vcode: int = 16, n_vedge: int = 300) -> list[Vector]:
    """The vector set of one configuration (about 6000 vectors with the defaults: about 2400
    convolutions, 2100 vector ops, 1500 random)."""
    gen = Gen(cfg, random.Random(seed))
    r = gen.rng
    out: list[Vector] = []
    # convolutions
    out += [gen.legal() for _ in range(n_legal)]
    out += [gen.legal(huge=True) for _ in range(n_legal // 10)]
    out += [gen.legal(phase=r.choice(["fp", "bp", "wu"]), dse=True) for _ in range(n_dse)]
    reach = reachable_pairs(cfg)
    for code in (ErrCode.BAD_OPCODE, ErrCode.ZERO_DIM, ErrCode.DIM_TOO_LARGE, ErrCode.BAD_KERNEL,
                 ErrCode.BAD_STRIDE, ErrCode.BAD_PADDING, ErrCode.BAD_FIELD, ErrCode.BUFFER_OVERFLOW,
                 ErrCode.MISALIGNED_ADDR, ErrCode.OUT_OF_WINDOW):
        ops = [op for op in sorted(CONV_OPCODES) if (op, code) in reach]  # every opcode in turn
        out += [gen.perturb(code, ops[i % len(ops)]) for i in range(n_per_code)]
    makers: list[Callable[[], Vector]] = [gen.edge_overflow, gen.edge_huge]
    out += [makers[i % 2]() for i in range(n_edge)]
    # vector ops: every opcode legal, every (opcode, code) pair aimed at, the limits
    out += [gen.vlegal(VECTOR_OPS[i % len(VECTOR_OPS)], huge=r.random() < 0.1) for i in range(n_vlegal)]
    for op, code in sorted(reach):
        if op in VECTOR_OPCODES and code != ErrCode.NONE:
            out += [gen.vperturb(op, code) for _ in range(n_per_vcode)]
    out += [gen.vedge() for _ in range(n_vedge)]
    # both
    out += [gen.random_fields() for _ in range(n_random)]
    out += [gen.raw() for _ in range(n_raw)]
    r.shuffle(out)
    return out
