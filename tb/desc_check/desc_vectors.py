"""Descriptor vectors for the eftrain_desc_check testbench, with their expected verdicts.

The oracle is :func:`eftrain.descriptors.validate` on the *decoded* words (so the hardware and
the oracle see the same fields, reserved bits included). :func:`generate` mixes, per
configuration:

``legal``      random layers (conv FP/BP/WU with any K, S, P; FC; folded 1x1 convs), a legal
               tiling (``default_tiling``, ``with_tiling``'s DSE choice, the largest legal
               ``tr``/``chunk``, or random legal values), tensors placed inside a window (exact
               fit or with slack, from address 0 up to windows ending at 2^64 - 1; an unused
               ``src2`` holds garbage)
``perturb``    a legal descriptor with one field changed so that one chosen rule fails (every
               code of ``VALIDATION_CODES``), with boundary values: ``tr``/``chunk`` at the
               buffer limit and one over, addresses at the window edges and one beat over,
               addresses whose end passes 2^64, inverted windows, misaligned unused ``src2``
``edge``       hand-picked shapes: outputs exactly filling OUT_DEPTH (folded B = OUT_DEPTH) and
               one over, weight chunks exactly filling W_DEPTH in WU (``* ACC_L``), maximal
               16-bit dims (sizes far beyond 2^64), sizes just under / over the window
``random``     every field drawn over its whole range (biased to small, boundary and legal values)
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
    RTL_IMPLEMENTED,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    _tensor_bytes,  # the tensors validate() checks, with their sizes: exact edges need them
    decode,
    default_tiling,
    geometry,
    validate,
    with_tiling,
)

TOP = 1 << 64
PHASE_OPS = {"fp": (Opcode.CONV_FP, Opcode.FC_FP), "bp": (Opcode.CONV_BP, Opcode.FC_BP),
             "wu": (Opcode.CONV_WU, Opcode.FC_WU)}


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
        return validate(self.descriptor(), cfg, (self.base, self.limit), RTL_IMPLEMENTED)


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
        if "src2" not in fields:  # unused: garbage (misaligned, anywhere) most of the time
            fields["src2"] = 0 if r.random() < 0.3 else r.randrange(0, TOP)
        return dataclasses.replace(d, **fields), win_base, limit

    # -- generators -------------------------------------------------------------------------------
    def legal(self, kind: str | None = None, phase: str | None = None, huge: bool = False,
              dse: bool = False) -> Vector:
        """A legal descriptor (NONE unless its tensors cannot fit below 2^64)."""
        r = self.rng
        for _ in range(1000):
            d = self.layer(kind, phase, huge)
            if d.phase == "fp" and r.random() < 0.5:
                d = dataclasses.replace(d, flags=int(Flag.BIAS))
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

    def perturb(self, target: ErrCode) -> Vector:
        """A legal descriptor with one field changed so that (usually) ``target`` fails first."""
        r, c = self.rng, self.cfg
        kind = "fc" if target == ErrCode.DIM_TOO_LARGE else None
        d, base, limit = self.legal_descriptor(kind=kind)
        rep = dataclasses.replace
        g = geometry(d, c)
        t = target
        if t == ErrCode.BAD_OPCODE:
            choice = r.randint(0, 3)
            if choice == 0:
                d = rep(d, opcode=r.choice([0, 7, 8, 0x11, 0x81, 0xFF, r.randint(7, 255)]))
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
                return self.edge_overflow()
            d = rep(d, **r.choice(options))
            del chunk_max
        elif t == ErrCode.MISALIGNED_ADDR:
            used = list(_tensor_bytes(d, c))
            name = r.choice([*used, "src2"])
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

    def edge_overflow(self) -> Vector:
        """Buffer limits hit exactly (legal) or by one (BUFFER_OVERFLOW)."""
        r, c = self.rng, self.cfg
        one_over = r.random() < 0.5
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
        if choice == 0:  # folded: the output tile is B words
            d = Descriptor(opcode=r.choice([Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU, Opcode.CONV_FP]),
                           batch=fold_b, m=self.dim(300), n=self.dim(300), tr=1, chunk=1)
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

    def random_fields(self) -> Vector:
        """Every field over its whole range, biased to small, boundary and legal values."""
        r = self.rng
        opcode = r.choice([1, 2, 3, 4, 5, 6] * 4 + [0, 7, r.randint(0, 255)])
        flags = r.choice([0, 0, 0, 1, 1, r.randint(0, 255)])
        rsv = [0] * 5
        if r.random() < 0.05:
            rsv[r.randint(0, 4)] = 1
        d = Descriptor(
            opcode=opcode, flags=flags, batch=self.field16(), m=self.field16(), n=self.field16(),
            h=self.field16(), w=self.field16(), k=self.field4(), stride=self.field4(), pad=self.field4(),
            src0=self.addr(), src1=self.addr(), src2=self.addr(), dst=self.addr(), tr=self.field16(),
            chunk=self.field16(), reserved=tuple(rsv),
        )
        if opcode >= 4 and r.random() < 0.5:
            d = dataclasses.replace(d, h=1, w=1, k=1, stride=1, pad=0)
        if r.random() < 0.3:  # small maps so that tilings can fit
            d = dataclasses.replace(d, h=r.randint(1, 40), w=r.randint(1, 40))
        base, limit = r.choice([(0, TOP - 1), (self.addr(), self.addr()), (0, self.addr())])
        return vector(d, min(base, TOP - 1), min(limit, TOP - 1), "random")

    def raw(self) -> Vector:
        """16 random words; half with a valid opcode word and zero reserved fields."""
        r = self.rng
        words = [r.getrandbits(32) for _ in range(16)]
        if r.random() < 0.5:
            words[0] = r.randint(1, 6) | (r.randint(0, 1) << 8)
            words[1] &= 0x0FFFFFFF
            words[13:16] = [0, 0, 0]
        return Vector(tuple(words), r.getrandbits(64), r.getrandbits(64), "raw")


def generate(cfg: HwConfig, seed: int, n_per_code: int = 150, n_legal: int = 1500, n_dse: int = 12,
             n_edge: int = 400, n_random: int = 1500, n_raw: int = 300) -> list[Vector]:
    """The vector set of one configuration (about 6000 vectors with the defaults)."""
    gen = Gen(cfg, random.Random(seed))
    r = gen.rng
    out: list[Vector] = []
    out += [gen.legal() for _ in range(n_legal)]
    out += [gen.legal(huge=True) for _ in range(n_legal // 10)]
    out += [gen.legal(phase=r.choice(["fp", "bp", "wu"]), dse=True) for _ in range(n_dse)]
    for code in (ErrCode.BAD_OPCODE, ErrCode.ZERO_DIM, ErrCode.DIM_TOO_LARGE, ErrCode.BAD_KERNEL,
                 ErrCode.BAD_STRIDE, ErrCode.BAD_PADDING, ErrCode.BAD_FIELD, ErrCode.BUFFER_OVERFLOW,
                 ErrCode.MISALIGNED_ADDR, ErrCode.OUT_OF_WINDOW):
        out += [gen.perturb(code) for _ in range(n_per_code)]
    makers: list[Callable[[], Vector]] = [gen.edge_overflow, gen.edge_huge]
    out += [makers[i % 2]() for i in range(n_edge)]
    out += [gen.random_fields() for _ in range(n_random)]
    out += [gen.raw() for _ in range(n_raw)]
    r.shuffle(out)
    return out
