"""Run whole small layers on the RTL engine (``rtl/eftrain_engine.sv``) in Verilator.

Three layers of use:

* :func:`tile_cycles`: the engine's cycle count per tile command (the closed formula documented in
  ``rtl/eftrain_engine.sv``); the analytical model imports it.
* :class:`Program` and the planners :func:`plan_fp`, :func:`plan_bp`, :func:`plan_wu`: pure Python.
  A planner turns one layer (NumPy arrays, stride, padding) into an engine program (load-port
  beats and zero fills, tile commands in the golden loop order, unload requests) plus the recipe
  that turns the unload responses back into a NumPy result and the expected cycles of every
  command.

The load and unload ports move beats of ``WPB = HwConfig.words_per_beat`` words with a word mask
(the mapping is documented in ``rtl/eftrain_engine.sv``). The planners stream every tensor as a
DMA would from the reshaped DRAM layout: lane (channel) innermost, cut into bus beats of WPB
words; a bus beat that straddles two buffer targets (two pixels, two weight rows) becomes one
port beat per target with the same data and complementary masks, the first lane given modulo
256 (:func:`_stream_beats`). Padding, halo and the BP zero-inserted positions are not loaded:
the tile's address range is zero-filled first (one address per cycle, :meth:`Program.fill`) and
only the positions that carry data are loaded.
* :func:`run_jobs`: build the Verilator model of a preset (once; cached under
  ``build/<preset>/engine/``) and run a list of :class:`Job` in ONE simulation. Planning and
  decoding happen in the calling process; inside the simulator the cocotb test
  :func:`engine_jobs` only plays each program through ``tb/engine/engine_tb.sv`` (the program
  player: no Python per cycle) and hands back the raw responses and command logs.
  ``Device("rtl")`` can call :func:`run_jobs` directly.

Loop order (the golden order contract, ``eftrain/golden/engine.py``):

* FP: for each image b and output-channel tile mt: for nt: one FP tile over the whole output map,
  ``acc_init`` = BIAS (or NEG_ZERO without bias) for nt = 0, else CONTINUE.
* BP: the FP engine on ``gradient_map(dy)`` (stride 1), the weights written through the load
  port's flip mode (180-degree flip and in/out swap on chip from the DRAM order ``w[m, n, kh,
  kw]``); reduction over tiles of TN output-gradient channels, output lanes = input channels.
* WU: WU_CLEAR of every (mt, nt) accumulator tile, then for each image b, mt, nt one WU tile with
  ``wu_t0 = (b * OH * OW) mod L``, then WU_COMBINE of every tile; dW is unloaded from the
  compacted place ``w_base * L + kh * K + kw`` of weight lane (i, j).

While command k runs, the player already loads what command k+1 needs into the other bank
(ping-pong), and unloads the results of command k-1, so the ports' conflict rules are exercised.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from eftrain import engine_timing
from eftrain.config import HwConfig, preset

__all__ = [
    "AccInit",
    "Buf",
    "Err",
    "Job",
    "JobResult",
    "Mode",
    "Plan",
    "Program",
    "build_model",
    "engine_jobs",
    "engine_parameters",
    "plan_bp",
    "plan_fp",
    "plan_job",
    "plan_wu",
    "play",
    "run_jobs",
    "tile_cycles",
]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
HARNESS = HERE / "engine_tb.sv"
RTL_MODULES = ("eftrain_fp32_pkg", "eftrain_engine_pkg", "fp32_mul", "fp32_add", "engine_ram",
               "adder_tree", "eftrain_engine")
MAX_PROG = 1 << 18   # engine_tb MAX_PROG: ops per program
MAX_RSP = 1 << 17    # responses per program
MAX_LOG = 1 << 12    # commands per program
MAX_WPB = 16         # engine_tb header: 16 mask bits
F32 = np.float32


class Mode(IntEnum):
    """``cmd_mode`` (rtl/eftrain_engine_pkg.sv)."""

    FP = 0
    BP = 1
    WU = 2
    WU_CLEAR = 3
    WU_COMBINE = 4


class AccInit(IntEnum):
    """``cmd_acc_init``."""

    CONTINUE = 0
    NEG_ZERO = 1
    BIAS = 2


class Buf(IntEnum):
    """``ld_buf`` / ``rd_req_buf``."""

    IN = 0
    OUT = 1
    W = 2
    BIAS = 3


class Err(IntEnum):
    """``done_err``."""

    NONE = 0
    MODE = 1
    K = 2
    STRIDE = 3
    SHAPE = 4
    IN_RANGE = 5
    OUT_RANGE = 6
    W_RANGE = 7
    T0 = 8


# ------------------------------------------------------------------------------------------------
# Cycle model of one tile command (the formula in rtl/eftrain_engine.sv).
# ------------------------------------------------------------------------------------------------

def tile_cycles(cfg: HwConfig | str, mode: Mode | int, k: int, rows_out: int = 1,
                cols_out: int = 1) -> int:
    """Cycles from the accept of a tile command to its done pulse (``done_cycles``).

    The formula lives once in :func:`eftrain.engine_timing.tile_cycles` (shared with the
    analytical model); this maps the RTL mode code onto it.
    """
    return engine_timing.tile_cycles(cfg, Mode(mode).name.lower(), k, rows_out, cols_out)


def engine_parameters(cfg: HwConfig | str) -> dict[str, int]:
    """Verilog parameters of ``eftrain_engine`` (and ``engine_tb``) for a preset.

    ``WPB`` (words per load/unload beat) is ``HwConfig.words_per_beat`` (bus_bits / 32).
    """
    c = preset(cfg)
    if c.acc_interleave < c.add_latency + 1:
        raise ValueError(f"the RTL engine needs acc_interleave >= add_latency + 1 "
                         f"({c.acc_interleave} < {c.add_latency + 1})")
    if not 1 <= c.words_per_beat <= MAX_WPB:
        raise ValueError(f"the RTL engine takes 1..{MAX_WPB} words per beat, "
                         f"got bus_bits={c.bus_bits}")
    return c.rtl_parameters()  # the one source: eftrain.config


# ------------------------------------------------------------------------------------------------
# Programs for engine_tb.sv.
# ------------------------------------------------------------------------------------------------

OP_END, OP_LD, OP_CMD, OP_WAIT, OP_RD, OP_MARK = 0, 1, 2, 3, 4, 5


def _u64(v: Any, mask: int = (1 << 64) - 1) -> np.ndarray:
    """A field as uint64, masked to its width."""
    return np.atleast_1d(np.asarray(v)).astype(np.uint64) & np.uint64(mask)


def _bits32(data: Any) -> np.ndarray:
    """float32 (or uint32 bit patterns) as uint32, bits unchanged."""
    a = np.asarray(data)
    if a.dtype == np.uint32:
        return a
    return np.ascontiguousarray(a, dtype=F32).view(np.uint32)


class Program:
    """A list of player ops (see engine_tb.sv), built from vectorized pieces.

    Each op is a 128-bit header (``hi``, ``lo``: two uint64) and a payload of ``wpb`` words (the
    load beat). Fields broadcast: pass arrays to emit many ops at once.
    """

    def __init__(self, wpb: int) -> None:
        if not 1 <= wpb <= MAX_WPB:
            raise ValueError(f"wpb must be 1..{MAX_WPB}, got {wpb}")
        self.wpb = wpb
        self._hi: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._pl: list[np.ndarray] = []
        self._rd_mask: list[np.ndarray] = []
        self.n_ops = 0
        self.n_rsp = 0
        self.n_cmd = 0
        self.n_marks = 0
        self.n_beats = 0        # load beats (fills included)
        self.fill_words = 0     # addresses written by fills

    @classmethod
    def for_config(cls, cfg: HwConfig | str) -> Program:
        return cls(preset(cfg).words_per_beat)

    @property
    def full_mask(self) -> int:
        return (1 << self.wpb) - 1

    def _add(self, hi: np.ndarray, lo: np.ndarray, pl: np.ndarray | None = None) -> int:
        hi, lo = np.broadcast_arrays(hi, lo)
        n = hi.size
        self._hi.append(hi.ravel().astype(np.uint64))
        self._lo.append(lo.ravel().astype(np.uint64))
        if pl is None:
            pl = np.zeros((n, self.wpb), np.uint32)
        self._pl.append(np.broadcast_to(pl, (n, self.wpb)).astype(np.uint32))
        self.n_ops += n
        return n

    def load_beats(self, buf: Buf, bank: Any, lane: Any, addr: Any, data: np.ndarray,
                   mask: Any = None, col: Any = 0, k: Any = 0, kh: Any = 0, kw: Any = 0,
                   flip: Any = 0) -> None:
        """Load-port beats: ``data`` is [n, wpb] (float32 or uint32 bits); word w of beat b goes
        to lane ``lane[b] + w`` (W: column ``col[b] + w``, or row with ``flip``) if bit w of
        ``mask[b]`` is set (default: all words). The other fields broadcast against n."""
        bits = _bits32(data).reshape(-1, self.wpb)
        n = bits.shape[0]
        if mask is None:
            mask = self.full_mask
        hi = ((np.uint64(OP_LD) << np.uint64(60)) | (_u64(int(buf), 3) << np.uint64(58))
              | (_u64(bank, 1) << np.uint64(57)) | (_u64(lane, 0xFF) << np.uint64(49))
              | (_u64(col, 0xFF) << np.uint64(41)) | (_u64(k, 7) << np.uint64(38))
              | (_u64(kh, 7) << np.uint64(35)) | (_u64(kw, 7) << np.uint64(32))
              | (_u64(flip, 1) << np.uint64(31)) | _u64(addr, 0xFFFF))
        lo = _u64(mask, 0xFFFF)
        hi = np.broadcast_to(hi, (n,)) if hi.size == 1 else hi
        lo = np.broadcast_to(lo, (n,)) if lo.size == 1 else lo
        self.n_beats += self._add(hi, lo, bits)

    def load(self, buf: Buf, bank: Any, lane: Any, addr: Any, data: np.ndarray, col: Any = 0,
             k: Any = 0, kh: Any = 0, kw: Any = 0, flip: Any = 0) -> None:
        """One word per beat (the single-word special case: word 0, mask 1); the arguments
        broadcast against ``data`` (float32 array)."""
        bits = _bits32(data).reshape(-1)
        args = np.broadcast_arrays(bits, *(np.asarray(v) for v in (bank, lane, addr, col, k, kh,
                                                                     kw, flip)))
        beat = np.zeros((args[0].size, self.wpb), np.uint32)
        beat[:, 0] = args[0].ravel()
        self.load_beats(buf, *(a.ravel() for a in args[1:4]), beat, mask=1,
                        col=args[4].ravel(), k=args[5].ravel(), kh=args[6].ravel(),
                        kw=args[7].ravel(), flip=args[8].ravel())

    def fill(self, buf: Buf, bank: int, base: int, count: int) -> None:
        """Zero fill: +0.0 into every lane of ``buf`` (bank) at ``base .. base+count-1``."""
        if not 0 <= count <= 0xFFFF:
            raise ValueError(f"fill count must be 0..65535, got {count}")
        hi = ((OP_LD << 60) | ((int(buf) & 3) << 58) | ((bank & 1) << 57) | (1 << 30)
              | (base & 0xFFFF))
        lo = (count & 0xFFFF) << 48
        self.n_beats += self._add(np.array([hi], np.uint64), np.array([lo], np.uint64))
        self.fill_words += 1 if int(buf) == Buf.BIAS else max(count, 1)

    def read(self, buf: Buf, bank: Any, lane: Any, addr: Any, col: Any = 0,
             mask: Any = None) -> slice:
        """Unload requests (arguments broadcast): word w of a response is lane ``lane + w``
        (W: column ``col + w`` of row ``lane``) if bit w of ``mask`` is set (default: all).
        Returns the requests' slice of the response beats."""
        if mask is None:
            mask = self.full_mask
        hi = ((np.uint64(OP_RD) << np.uint64(60)) | (_u64(int(buf), 3) << np.uint64(58))
              | (_u64(bank, 1) << np.uint64(57)) | (_u64(lane, 0xFF) << np.uint64(49))
              | (_u64(col, 0xFF) << np.uint64(41)) | _u64(addr, 0xFFFF))
        lo = _u64(mask, 0xFFFF)
        hi, lo = np.broadcast_arrays(hi, lo)
        start = self.n_rsp
        n = self._add(hi, lo)
        self._rd_mask.append(lo.ravel().astype(np.uint32))
        self.n_rsp += n
        return slice(start, self.n_rsp)

    def read_words(self, buf: Buf, bank: Any, lane: Any, addr: Any, col: Any = 0) -> slice:
        """Single-word unload requests (mask 1): the word is column 0 of each response."""
        return self.read(buf, bank, lane, addr, col, mask=1)

    def command(self, mode: Mode, k: int, stride: int = 1, rows_out: int = 1, cols_out: int = 1,
                cols_in: int = 1, in_bank: int = 0, out_bank: int = 0, in_base: int = 0,
                out_base: int = 0, w_base: int = 0, acc_init: AccInit = AccInit.NEG_ZERO,
                wu_t0: int = 0) -> None:
        """One tile command (fields as in rtl/eftrain_engine.sv; values are masked to width)."""
        hi = ((OP_CMD << 60) | ((int(mode) & 7) << 57) | ((k & 7) << 54) | ((stride & 7) << 51)
              | ((in_bank & 1) << 50) | ((out_bank & 1) << 49) | ((int(acc_init) & 3) << 47)
              | ((wu_t0 & 0xFF) << 32) | ((w_base & 0xFFFF) << 16) | (cols_in & 0xFFFF))
        lo = (((rows_out & 0xFFFF) << 48) | ((cols_out & 0xFFFF) << 32)
              | ((in_base & 0xFFFF) << 16) | (out_base & 0xFFFF))
        self._add(np.array([hi], np.uint64), np.array([lo], np.uint64))
        self.n_cmd += 1

    def wait(self) -> None:
        """Wait for the last command's done pulse and log it."""
        self._add(np.array([OP_WAIT << 60], np.uint64), np.zeros(1, np.uint64))

    def mark(self) -> None:
        """Log the player's cycle counter (JobResult.marks): one op, one cycle."""
        self._add(np.array([OP_MARK << 60], np.uint64), np.zeros(1, np.uint64))
        self.n_marks += 1

    def request_masks(self) -> np.ndarray:
        """The mask of every unload request, in response order."""
        if not self._rd_mask:
            return np.zeros(0, np.uint32)
        return np.concatenate(self._rd_mask)

    def hex_text(self) -> str:
        """The program plus END, one (128 + 32*wpb)-bit op per line in hex ($readmemh)."""
        n = self.n_ops + 1
        if n > MAX_PROG:
            raise ValueError(f"program of {n} ops exceeds the player's {MAX_PROG}")
        if self.n_rsp > MAX_RSP or self.n_cmd > MAX_LOG or self.n_marks > MAX_LOG:
            raise ValueError("program reads or commands exceed the player's capacity")
        rec = np.zeros(n, dtype=[("hi", ">u8"), ("lo", ">u8"), ("pl", ">u4", (self.wpb,))])
        rec["hi"] = np.concatenate([*self._hi, np.array([OP_END << 60], np.uint64)])
        rec["lo"] = np.concatenate([*self._lo, np.zeros(1, np.uint64)])
        pl = np.concatenate([*self._pl, np.zeros((1, self.wpb), np.uint32)])
        rec["pl"] = pl[:, ::-1]          # word wpb-1 is the most significant
        text = rec.tobytes().hex()
        width = 2 * rec.dtype.itemsize
        return "\n".join(text[i:i + width] for i in range(0, len(text), width)) + "\n"


# ------------------------------------------------------------------------------------------------
# Word streams -> beats. A DMA moves the reshaped DRAM layout as a stream of bus beats of wpb
# consecutive words; each bus beat becomes one port beat per run of words with the same buffer
# target (address / weight row) inside it, with the SAME data and complementary masks: the
# first lane (or column) is that of the beat's word 0, modulo 256 (rtl/eftrain_engine.sv).
# ------------------------------------------------------------------------------------------------

@dataclass
class _Beats:
    """Port beats of one word stream, and where every word of the stream went."""

    keys: np.ndarray     # [g, nk] target of each port beat (address, kernel position, row ...)
    first: np.ndarray    # [g] lane / column of word 0, modulo 256
    mask: np.ndarray     # [g] word mask
    data: np.ndarray     # [g, wpb] uint32: the bus beat
    gid: np.ndarray      # [n] port beat of stream word s
    pos: np.ndarray      # [n] its word position in the beat


def _stream_beats(wpb: int, keys: np.ndarray, coord: np.ndarray,
                  data: np.ndarray | None = None) -> _Beats:
    """Split a word stream (DRAM order) into bus beats and port beats.

    ``keys`` [n, nk]: the buffer target of each word; ``coord`` [n]: its lane or column, which
    must run consecutively within a run of equal keys; ``data`` [n] (float32) or None (reads).
    """
    keys = np.asarray(keys, np.int64).reshape(len(coord), -1)
    coord = np.asarray(coord, np.int64)
    n = coord.size
    idx = np.arange(n)
    pos = idx % wpb
    new = np.ones(n, bool)
    if n > 1:
        new[1:] = (pos[1:] == 0) | np.any(keys[1:] != keys[:-1], axis=1)
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    first = (coord[starts] - pos[starts]) % 256
    if not np.array_equal((first[gid] + pos) % 256, coord % 256):
        raise ValueError("stream lanes are not consecutive within a beat target")
    mask = np.zeros(starts.size, np.int64)
    np.add.at(mask, gid, np.left_shift(1, pos))
    if data is None:
        beats = np.zeros((starts.size, wpb), np.uint32)
    else:
        bits = np.zeros(-(-n // wpb) * wpb, np.uint32)
        bits[:n] = _bits32(data).reshape(-1)
        beats = bits.reshape(-1, wpb)[idx[starts] // wpb]
    return _Beats(keys[starts], first, mask, beats, gid, pos)


def _load_lanes(prog: Program, buf: Buf, bank: int, block: np.ndarray, addr: np.ndarray) -> None:
    """Lanes x addresses: ``block`` [lanes, A] to addresses ``addr`` [A], lane innermost."""
    lanes, n_a = block.shape
    if lanes == 0 or n_a == 0:
        return
    a = np.repeat(np.asarray(addr, np.int64), lanes)
    lane = np.tile(np.arange(lanes), n_a)
    bt = _stream_beats(prog.wpb, a, lane, block.T.reshape(-1))
    prog.load_beats(buf, bank, bt.first, bt.keys[:, 0], bt.data, mask=bt.mask)


def _read_lanes(prog: Program, buf: Buf, bank: int, lanes: int,
                addr: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Unload ``lanes`` lanes at addresses ``addr`` [A] (lane innermost); returns the decoder
    from the response beats to the words [lanes, A]."""
    n_a = len(addr)
    a = np.repeat(np.asarray(addr, np.int64), lanes)
    lane = np.tile(np.arange(lanes), n_a)
    bt = _stream_beats(prog.wpb, a, lane)
    sl = prog.read(buf, bank, bt.first, bt.keys[:, 0], mask=bt.mask)

    def words(rsp: np.ndarray) -> np.ndarray:
        return rsp[sl][bt.gid, bt.pos].view(F32).reshape(n_a, lanes).T

    return words


def _load_weight_tile(prog: Program, blk: np.ndarray, base: int, flip: bool) -> None:
    """A weight tile in the reshaped DRAM order [kh][kw][a][b] from ``blk`` [a, b, K, K].

    Straight: a = m (row i), b = n (column j). Flip (BP): a = m (column j), b = n (row i).
    Each beat carries consecutive b of one (kh, kw, a).
    """
    na, nb, k, _ = blk.shape
    kh, kw, ai, bi = np.indices((k, k, na, nb))
    data = blk.transpose(2, 3, 0, 1).reshape(-1)
    keys = np.stack([kh.ravel(), kw.ravel(), ai.ravel()], axis=1)
    bt = _stream_beats(prog.wpb, keys, bi.ravel(), data)
    prog.load_beats(Buf.W, 0, bt.keys[:, 2], base, bt.data, mask=bt.mask, col=bt.first, k=k,
                    kh=bt.keys[:, 0], kw=bt.keys[:, 1], flip=int(flip))


@dataclass
class Plan:
    """A program, how to decode its responses, and the expected cycles of every command.

    ``decode`` takes the response beats [n_rsp, wpb] (uint32). With ``check_masks`` the
    response masks must equal the request masks (every requested word exists).
    """

    program: Program
    decode: Callable[[np.ndarray], np.ndarray]
    expected_cycles: list[int]
    modes: list[int]
    expected_err: list[int] = field(default_factory=list)
    check_masks: bool = True


@dataclass
class _Step:
    """One command with what must be loaded before it and unloaded after it."""

    cmd: dict[str, Any]
    loads: list[Callable[[Program], None]] = field(default_factory=list)
    reads: list[Callable[[Program], None]] = field(default_factory=list)


def _emit(prog: Program, steps: Sequence[_Step]) -> None:
    """Ping-pong schedule: load step k+1 and unload step k-1 while command k runs."""
    if steps:
        for f in steps[0].loads:
            f(prog)
    for k, st in enumerate(steps):
        prog.command(**st.cmd)
        if k > 0:
            for f in steps[k - 1].reads:
                f(prog)
        if k + 1 < len(steps):
            for f in steps[k + 1].loads:
                f(prog)
        prog.wait()
    if steps:
        for f in steps[-1].reads:
            f(prog)


def _check_fit(what: str, need: int, have: int) -> None:
    if need > have:
        raise ValueError(f"layer does not fit on chip: {what} needs {need} words per lane, "
                         f"the buffer has {have}")


def _f32(name: str, a: np.ndarray | None, ndim: int) -> None:
    if a is None:
        return
    if not isinstance(a, np.ndarray) or a.dtype != F32 or a.ndim != ndim:
        raise ValueError(f"{name} must be a float32 numpy array of rank {ndim}")


def _tiles(n: int, t: int) -> int:
    return -(-n // t)


def _load_in_tile(prog: Program, bank: int, tile: np.ndarray, data_at: np.ndarray | None) -> None:
    """Input-buffer tile [lanes, rows, cols] at base 0 of ``bank``.

    ``data_at`` [rows, cols] marks the positions that carry data (None: all). The others are
    structural zeros (padding, halo, BP zero insertion): the whole tile range is zero-filled
    first (one address per cycle), then only the data positions are loaded, lane innermost,
    as the DMA streams them from the reshaped layout.
    """
    lanes, rows, cols = tile.shape
    flat = tile.reshape(lanes, rows * cols)
    if data_at is None or data_at.all():
        _load_lanes(prog, Buf.IN, bank, flat, np.arange(rows * cols))
        return
    prog.fill(Buf.IN, bank, 0, rows * cols)
    addr = np.flatnonzero(data_at.reshape(-1))
    _load_lanes(prog, Buf.IN, bank, flat[:, addr], addr)


def _fp_engine_plan(cfg: HwConfig, xin: np.ndarray, w_dram: np.ndarray, bias: np.ndarray | None,
                    stride: int, mode: Mode, out_ch: int, red_ch: int,
                    data_at: np.ndarray | None = None) -> Plan:
    """FP datapath over padded input ``xin`` [B, red_ch, Hp, Wp].

    ``w_dram`` is the DRAM weight array. FP: [out_ch, red_ch, K, K], loaded straight. BP:
    [red_ch, out_ch, K, K] (the forward layer's w[m, n]), loaded through the flip mode.
    ``data_at`` [Hp, Wp]: the positions of ``xin`` that carry data (None: all); the rest is
    zero-filled on chip.
    """
    tm, tn = cfg.tm, cfg.tn
    bsz, _, hp, wp = xin.shape
    k = w_dram.shape[2]
    kk = k * k
    oh = (hp - k) // stride + 1
    ow = (wp - k) // stride + 1
    p = oh * ow
    ot, rt = _tiles(out_ch, tm), _tiles(red_ch, tn)
    _check_fit("the input tile", hp * wp, cfg.in_buf_depth)
    _check_fit("the output tile", p, cfg.out_buf_depth)
    _check_fit("the weights", ot * rt * kk, cfg.w_buf_depth)

    prog = Program(cfg.words_per_beat)
    # Every weight tile, zero-padded to TM x TN lanes (padding lanes must be +0.0).
    wt_full = np.zeros((ot * tm, rt * tn, k, k), F32)   # [out lane, red lane, kh, kw] in FP terms
    flip = mode == Mode.BP
    if flip:
        # DRAM tile element (m, n, kh, kw) with m = reduction channel, n = output channel.
        wd = np.zeros((rt * tn, ot * tm, k, k), F32)
        wd[:red_ch, :out_ch] = w_dram
    else:
        wt_full[:out_ch, :red_ch] = w_dram

    def load_weights(pr: Program) -> None:
        for o in range(ot):
            for rr in range(rt):
                base = (o * rt + rr) * kk
                if flip:
                    # [TN (m), TM (n), K, K]: beats of consecutive n land in rows i = n
                    _load_weight_tile(pr, wd[rr * tn:(rr + 1) * tn, o * tm:(o + 1) * tm], base,
                                      True)
                else:
                    _load_weight_tile(pr, wt_full[o * tm:(o + 1) * tm, rr * tn:(rr + 1) * tn],
                                      base, False)

    # The channel block of TN lanes, padding lanes +0.0 (as in the reshaped DRAM layout).
    xpad = np.zeros((bsz, rt * tn, hp, wp), F32)
    xpad[:, :red_ch] = xin
    result = np.zeros((bsz, out_ch, oh, ow), F32)
    slices: list[tuple[Callable[[np.ndarray], np.ndarray], int, int, int]] = []

    steps: list[_Step] = []
    expected: list[int] = []
    for b in range(bsz):
        for o in range(ot):
            u = b * ot + o
            n_valid = min(tm, out_ch - o * tm)
            for rr in range(rt):
                kidx = len(steps)
                if rr == 0:
                    init = AccInit.BIAS if bias is not None else AccInit.NEG_ZERO
                else:
                    init = AccInit.CONTINUE
                cmd = dict(mode=mode, k=k, stride=stride, rows_out=oh, cols_out=ow, cols_in=wp,
                           in_bank=kidx % 2, out_bank=u % 2, w_base=(o * rt + rr) * kk,
                           acc_init=init)
                st = _Step(cmd)
                tile = xpad[b, rr * tn:(rr + 1) * tn]
                st.loads.append(lambda pr, bank=kidx % 2, t=tile:
                                _load_in_tile(pr, bank, t, data_at))
                if rr == 0 and bias is not None:
                    bv = np.zeros(tm, F32)
                    bv[:n_valid] = bias[o * tm:o * tm + n_valid]
                    st.loads.append(lambda pr, v=bv:
                                    _load_lanes(pr, Buf.BIAS, 0, v.reshape(tm, 1), np.zeros(1)))
                if rr == rt - 1:
                    def rd(pr: Program, bank: int = u % 2, nv: int = n_valid, bb: int = b,
                           c0: int = o * tm) -> None:
                        slices.append((_read_lanes(pr, Buf.OUT, bank, nv, np.arange(p)), bb, c0,
                                       nv))
                    st.reads.append(rd)
                steps.append(st)
                expected.append(tile_cycles(cfg, mode, k, oh, ow))
    if steps:
        steps[0].loads.insert(0, load_weights)
    _emit(prog, steps)

    def decode(rsp: np.ndarray) -> np.ndarray:
        out = result.copy()
        for words, bb, c0, nv in slices:
            out[bb, c0:c0 + nv] = words(rsp).reshape(nv, oh, ow)
        return out

    return Plan(prog, decode, expected, [int(mode)] * len(expected))


def plan_fp(cfg: HwConfig | str, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None,
            stride: int = 1, padding: int = 0) -> Plan:
    """FP of one layer: x [B,N,H,W], w [M,N,K,K], bias [M] or None -> y [B,M,OH,OW]."""
    c = preset(cfg)
    _f32("x", x, 4)
    _f32("w", w, 4)
    _f32("bias", bias, 1)
    m, n, _, _ = w.shape
    h, wd = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    data_at = np.zeros(xp.shape[2:], bool)
    data_at[padding:padding + h, padding:padding + wd] = True
    return _fp_engine_plan(c, xp, w, bias, stride, Mode.FP, out_ch=m, red_ch=n, data_at=data_at)


def plan_bp(cfg: HwConfig | str, dy: np.ndarray, w: np.ndarray, x_shape: Sequence[int],
            stride: int = 1, padding: int = 0) -> Plan:
    """BP of one layer: dy [B,M,OH,OW], w [M,N,K,K] -> dx [B,N,H,W] (x_shape)."""
    c = preset(cfg)
    _f32("dy", dy, 4)
    _f32("w", w, 4)
    _, n, h, wd = (int(v) for v in x_shape)
    m, _, k, _ = w.shape
    from eftrain.golden.engine import gradient_map  # lazy: keeps torch out of the simulator

    dz = gradient_map(dy, h, wd, k, stride, padding)
    # Where dy lands in the zero-inserted, padded map (the rest is zero-filled on chip).
    data_at = gradient_map(np.ones((1, 1, *dy.shape[2:]), F32), h, wd, k, stride, padding)[0, 0] != 0
    return _fp_engine_plan(c, dz, w, None, 1, Mode.BP, out_ch=n, red_ch=m, data_at=data_at)


def plan_wu(cfg: HwConfig | str, x: np.ndarray, dy: np.ndarray, w_shape: Sequence[int],
            stride: int = 1, padding: int = 0) -> Plan:
    """WU of one layer: x [B,N,H,W], dy [B,M,OH,OW] -> dw [M,N,K,K] (w_shape)."""
    c = preset(cfg)
    _f32("x", x, 4)
    _f32("dy", dy, 4)
    tm, tn, big_l = c.tm, c.tn, c.acc_interleave
    m, n, k, _ = (int(v) for v in w_shape)
    kk = k * k
    bsz, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    hp, wp = xp.shape[2:]
    data_at = np.zeros((hp, wp), bool)
    data_at[padding:padding + h, padding:padding + wd] = True
    oh, ow = dy.shape[2:]
    p = oh * ow
    mt, nt = _tiles(m, tm), _tiles(n, tn)
    _check_fit("the input tile", hp * wp, c.in_buf_depth)
    _check_fit("the dy tile", p, c.out_buf_depth)
    _check_fit("the WU partial sums", mt * nt * kk * big_l, c.w_buf_depth)

    prog = Program(c.words_per_beat)
    steps: list[_Step] = []
    expected: list[int] = []
    modes: list[int] = []

    def add(cmd: dict[str, Any]) -> _Step:
        st = _Step(cmd)
        steps.append(st)
        expected.append(tile_cycles(c, cmd["mode"], k, cmd.get("rows_out", 1),
                                    cmd.get("cols_out", 1)))
        modes.append(int(cmd["mode"]))
        return st

    for a in range(mt):
        for j in range(nt):
            add(dict(mode=Mode.WU_CLEAR, k=k, w_base=(a * nt + j) * kk))
    dy_bank = -1
    for b in range(bsz):
        for a in range(mt):
            u = b * mt + a
            mv = min(tm, m - a * tm)
            for j in range(nt):
                nv = min(tn, n - j * tn)
                kidx = len(steps)
                st = add(dict(mode=Mode.WU, k=k, stride=stride, rows_out=oh, cols_out=ow,
                              cols_in=wp, in_bank=kidx % 2, out_bank=u % 2,
                              w_base=(a * nt + j) * kk, wu_t0=(b * p) % big_l))
                # x lanes of real channels only (other lanes feed accumulators never unloaded).
                tile = xp[b, j * tn:j * tn + nv]
                st.loads.append(lambda pr, bank=kidx % 2, t=tile:
                                _load_in_tile(pr, bank, t, data_at))
                if dy_bank != u:
                    dy_bank = u
                    dt = dy[b, a * tm:a * tm + mv].reshape(mv, p)

                    def ld_dy(pr: Program, bank: int = u % 2, t: np.ndarray = dt) -> None:
                        _load_lanes(pr, Buf.OUT, bank, t, np.arange(p))
                    st.loads.append(ld_dy)
    slices: list[tuple[Callable[[np.ndarray], np.ndarray], int, int, int, int]] = []
    for a in range(mt):
        for j in range(nt):
            add(dict(mode=Mode.WU_COMBINE, k=k, w_base=(a * nt + j) * kk))
    last = steps[-1]
    for a in range(mt):
        for j in range(nt):
            mv, nv = min(tm, m - a * tm), min(tn, n - j * tn)
            base = (a * nt + j) * kk * big_l

            def rd(pr: Program, a: int = a, j: int = j, mv: int = mv, nv: int = nv,
                   base: int = base) -> None:
                # dW in the reshaped weight order [kh][kw][m][n]: beats of consecutive n (j)
                r_i, i_i, j_i = np.indices((kk, mv, nv))
                keys = np.stack([r_i.ravel(), i_i.ravel()], axis=1)
                bt = _stream_beats(pr.wpb, keys, j_i.ravel())
                sl = pr.read(Buf.W, 0, bt.keys[:, 1], base + bt.keys[:, 0], col=bt.first,
                             mask=bt.mask)

                def words(rsp: np.ndarray, sl: slice = sl, bt: _Beats = bt) -> np.ndarray:
                    return rsp[sl][bt.gid, bt.pos].view(F32).reshape(kk, mv, nv)

                slices.append((words, a * tm, j * tn, mv, nv))
            last.reads.append(rd)
    _emit(prog, steps)

    def decode(rsp: np.ndarray) -> np.ndarray:
        out = np.zeros((m, n, k, k), F32)
        for words, m0, n0, mv, nv in slices:
            out[m0:m0 + mv, n0:n0 + nv] = words(rsp).transpose(1, 2, 0).reshape(mv, nv, k, k)
        return out

    return Plan(prog, decode, expected, modes)


# ------------------------------------------------------------------------------------------------
# Jobs: what run_jobs takes and returns (picklable, crosses into the simulator process).
# ------------------------------------------------------------------------------------------------

@dataclass
class Job:
    """One layer phase to run: ``kind`` is "fp", "bp", "wu" or "raw" (a prebuilt program).

    ``idle_16`` / ``bp_16`` set the player's source idle and sink back-pressure probabilities
    (sixteenths), ``lfsr_seed`` their LFSR seed.
    """

    kind: str
    x: np.ndarray | None = None
    w: np.ndarray | None = None
    bias: np.ndarray | None = None
    dy: np.ndarray | None = None
    x_shape: tuple[int, ...] | None = None
    w_shape: tuple[int, ...] | None = None
    stride: int = 1
    padding: int = 0
    program: Program | None = None
    expected_cycles: list[int] | None = None
    idle_16: int = 0
    bp_16: int = 0
    lfsr_seed: int = 1
    label: str = ""


@dataclass
class JobResult:
    """The result array (None for "raw" jobs), the unload responses and every command's log.

    ``responses`` [n_rsp, wpb] uint32: word w of every response beat; ``rsp_mask`` [n_rsp]:
    its rd_rsp_mask.
    """

    result: np.ndarray | None
    responses: np.ndarray
    err: np.ndarray          # done_err per command
    cycles: np.ndarray       # done_cycles per command (engine's own count)
    measured: np.ndarray     # accept-to-done cycles measured by the player
    expected: list[int]      # tile_cycles per command
    modes: list[int]
    sim_cycles: int          # cycles the whole program took
    error: str = ""          # a simulation problem (timeout), empty when fine
    rsp_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    marks: list[int] = field(default_factory=list)   # player cycle at every MARK

    def words(self, sl: slice) -> np.ndarray:
        """Word 0 of the responses in ``sl`` as float32 (single-word requests)."""
        return self.responses[sl, 0].view(F32)


def plan_job(cfg: HwConfig | str, job: Job) -> Plan:
    """The plan of one job."""
    if job.kind == "fp":
        assert job.x is not None and job.w is not None
        return plan_fp(cfg, job.x, job.w, job.bias, job.stride, job.padding)
    if job.kind == "bp":
        assert job.dy is not None and job.w is not None and job.x_shape is not None
        return plan_bp(cfg, job.dy, job.w, job.x_shape, job.stride, job.padding)
    if job.kind == "wu":
        assert job.x is not None and job.dy is not None and job.w_shape is not None
        return plan_wu(cfg, job.x, job.dy, job.w_shape, job.stride, job.padding)
    if job.kind == "raw":
        assert job.program is not None
        exp = list(job.expected_cycles or [])
        return Plan(job.program, lambda r: r, exp, [], check_masks=False)
    raise ValueError(f"unknown job kind {job.kind!r}")


# ------------------------------------------------------------------------------------------------
# Simulator side: the cocotb test that plays the jobs (test_module "tb.engine.driver").
# ------------------------------------------------------------------------------------------------

def _hex_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text().split() if not ln.startswith(("/", "@"))]


def _read_hex(path: Path, width: int) -> list[int]:
    return [int(line, 16) & ((1 << width) - 1) for line in _hex_lines(path)]


def _read_rsp(path: Path, wpb: int) -> tuple[np.ndarray, np.ndarray]:
    """rsp.hex ({32'(mask), word wpb-1 .. word 0} per line) -> words [n, wpb], masks [n]."""
    lines = _hex_lines(path)
    digits = 8 * (wpb + 1)
    if not lines:
        return np.zeros((0, wpb), np.uint32), np.zeros(0, np.uint32)
    if all(len(ln) == digits for ln in lines):
        raw = np.frombuffer(bytes.fromhex("".join(lines)), dtype=">u4").reshape(-1, wpb + 1)
    else:
        vals = [int(ln, 16) for ln in lines]
        raw = np.array([[(v >> (32 * (wpb - c))) & 0xFFFFFFFF for c in range(wpb + 1)]
                        for v in vals], dtype=np.uint64)
    raw = raw.astype(np.uint32)
    return np.ascontiguousarray(raw[:, :0:-1]), raw[:, 0].copy()


@dataclass
class _Run:
    """What the simulator needs to play one program (crosses into the simulator process)."""

    hex_text: str
    n_rsp: int
    budget: int          # cycles before the program is declared hung
    idle_16: int = 0
    bp_16: int = 0
    lfsr_seed: int = 1
    wpb: int = 1         # words per beat of the model


@dataclass
class _Played:
    """What the simulator hands back for one program."""

    responses: np.ndarray    # [n, wpb] uint32
    rsp_mask: np.ndarray     # [n]
    logs: list[int]
    sim_cycles: int
    error: str = ""
    marks: list[int] = field(default_factory=list)


async def play(dut: Any, run: _Run, workdir: Path | None = None) -> _Played:
    """Play one program on a running engine_tb (clock started, reset released)."""
    from cocotb.triggers import RisingEdge, with_timeout
    from cocotb.utils import get_sim_time

    work = workdir or Path.cwd()
    for name in ("rsp.hex", "log.hex", "mark.hex"):
        (work / name).unlink(missing_ok=True)
    (work / "prog.hex").write_text(run.hex_text)
    dut.idle_16.value = run.idle_16
    dut.bp_16.value = run.bp_16
    dut.lfsr_seed.value = run.lfsr_seed
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    t0 = get_sim_time("ns")
    error = ""
    try:
        await with_timeout(RisingEdge(dut.prog_done), run.budget * 10, "ns")
    except TimeoutError:
        error = f"program did not finish within {run.budget} cycles (pc={int(dut.pc.value)})"
    sim_cycles = int((get_sim_time("ns") - t0) // 10)
    await RisingEdge(dut.clk)
    rsp, rsp_mask = _read_rsp(work / "rsp.hex", run.wpb)
    return _Played(rsp, rsp_mask, _read_hex(work / "log.hex", 96), sim_cycles, error,
                   _read_hex(work / "mark.hex", 32))


@cocotb.test()
async def engine_jobs(dut: Any) -> None:
    """Play every program of $EFTRAIN_ENGINE_JOBS; write what came back to $EFTRAIN_ENGINE_RESULTS."""
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    with open(os.environ["EFTRAIN_ENGINE_JOBS"], "rb") as fh:
        runs: list[_Run | None] = pickle.load(fh)
    Clock(dut.clk, 10, unit="ns").start()
    dut.start.value = 0
    dut.idle_16.value = 0
    dut.bp_16.value = 0
    dut.lfsr_seed.value = 1
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    await ClockCycles(dut.clk, 2)
    played: list[_Played | None] = []
    for run in runs:
        if run is None:            # a job whose plan failed on the host
            played.append(None)
            continue
        res = await play(dut, run)
        played.append(res)
        if res.error:
            break                  # the engine is stuck; later programs would say nothing
    with open(os.environ["EFTRAIN_ENGINE_RESULTS"], "wb") as fh:
        pickle.dump(played, fh)


# ------------------------------------------------------------------------------------------------
# Host side.
# ------------------------------------------------------------------------------------------------

def _sim() -> Any:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tb.common import sim
    return sim


def build_model(cfg: HwConfig | str, waves: bool | None = None) -> Any:
    """Build (or reuse) the Verilator model of engine_tb for a preset: build/<preset>/engine/."""
    c = preset(cfg)
    sim = _sim()
    return sim.build(
        toplevel="engine_tb",
        sources=[*sim.rtl_sources(*RTL_MODULES), HARNESS],
        tag=c.name,
        unit="engine",
        parameters=engine_parameters(c),
        build_args=["-O3"],
        waves=waves,
    )


def _result(plan: Plan, got: _Played | None, why: str) -> JobResult:
    empty = np.zeros(0, np.int64)
    if got is None:
        return JobResult(None, np.zeros((0, plan.program.wpb), np.uint32), empty, empty, empty,
                         plan.expected_cycles, plan.modes, 0,
                         why or "not run (an earlier program hung)")
    err = np.array([(v >> 64) & 0xF for v in got.logs], dtype=np.int64)
    cyc = np.array([(v >> 32) & 0xFFFFFFFF for v in got.logs], dtype=np.int64)
    meas = np.array([v & 0xFFFFFFFF for v in got.logs], dtype=np.int64)
    error = got.error
    result = None
    if not error and got.responses.shape[0] != plan.program.n_rsp:
        error = f"{got.responses.shape[0]} responses, expected {plan.program.n_rsp}"
    if not error and plan.check_masks:
        want = plan.program.request_masks()
        bad = np.flatnonzero(got.rsp_mask != want)
        if bad.size:
            i = int(bad[0])
            error = (f"{bad.size} response masks differ from the request masks; first: response "
                     f"{i} mask {int(got.rsp_mask[i]):#x}, requested {int(want[i]):#x}")
    if not error:
        result = plan.decode(got.responses)
    return JobResult(result, got.responses, err, cyc, meas, plan.expected_cycles, plan.modes,
                     got.sim_cycles, error, got.rsp_mask, got.marks)


def run_jobs(cfg: HwConfig | str, jobs: Sequence[Job], *, name: str | None = None,
             waves: bool | None = None) -> list[JobResult]:
    """Run ``jobs`` in one simulation of the engine built for ``cfg``; return their results.

    Planning and decoding happen here; the simulator only plays the programs. ``name`` names
    the run directory (default: the current pytest test). A layer that does not fit on chip
    raises ValueError; a hung program gives a JobResult whose ``error`` says so (later jobs are
    not run); a simulator failure raises ``tb.common.sim.SimulationError``.
    """
    c = preset(cfg)
    plans = [plan_job(c, job) for job in jobs]
    for pl in plans:
        if pl.program.wpb != c.words_per_beat:
            raise ValueError(f"program built for {pl.program.wpb} words per beat, the {c.name} "
                             f"engine takes {c.words_per_beat}")
    runs = [_Run(pl.program.hex_text(), pl.program.n_rsp,
                 (sum(pl.expected_cycles) + pl.program.n_ops + pl.program.fill_words) * 4 + 20_000,
                 job.idle_16, job.bp_16, job.lfsr_seed, c.words_per_beat)
            for pl, job in zip(plans, jobs, strict=True)]
    sim = _sim()
    model = build_model(c, waves)
    work = sim.run_dir(model, name)
    jobs_file = work / "jobs.pkl"
    res_file = work / "results.pkl"
    res_file.unlink(missing_ok=True)
    with open(jobs_file, "wb") as fh:
        pickle.dump(runs, fh)
    sim.run(model, test_module="tb.engine.driver", directory=work,
            extra_env={"EFTRAIN_ENGINE_JOBS": str(jobs_file),
                       "EFTRAIN_ENGINE_RESULTS": str(res_file)})
    with open(res_file, "rb") as fh:
        played: list[_Played | None] = pickle.load(fh)
    played += [None] * (len(plans) - len(played))
    return [_result(pl, got, "") for pl, got in zip(plans, played, strict=True)]
