"""Run whole small layers on the RTL engine (``rtl/eftrain_engine.sv``) in Verilator.

Three layers of use:

* :func:`tile_cycles`: the engine's cycle count per tile command (the closed formula documented in
  ``rtl/eftrain_engine.sv``); the analytical model imports it.
* :class:`Program` and the planners :func:`plan_fp`, :func:`plan_bp`, :func:`plan_wu`: pure Python.
  A planner turns one layer (NumPy arrays, stride, padding) into an engine program (load-port
  words, tile commands in the golden loop order, unload requests) plus the recipe that turns the
  unload responses back into a NumPy result and the expected cycles of every command.
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
    """Verilog parameters of ``eftrain_engine`` (and ``engine_tb``) for a preset."""
    c = preset(cfg)
    if c.acc_interleave < c.add_latency + 1:
        raise ValueError(f"the RTL engine needs acc_interleave >= add_latency + 1 "
                         f"({c.acc_interleave} < {c.add_latency + 1})")
    if hasattr(c, "rtl_parameters"):     # the one source (eftrain.config), where present
        return dict(c.rtl_parameters())
    return {"TM": c.tm, "TN": c.tn, "ACC_L": c.acc_interleave, "MUL_LAT": c.mul_latency,
            "ADD_LAT": c.add_latency, "IN_DEPTH": c.in_buf_depth, "OUT_DEPTH": c.out_buf_depth,
            "W_DEPTH": c.w_buf_depth}


# ------------------------------------------------------------------------------------------------
# Programs for engine_tb.sv.
# ------------------------------------------------------------------------------------------------

OP_END, OP_LD, OP_CMD, OP_WAIT, OP_RD = 0, 1, 2, 3, 4


def _u64(v: Any, mask: int = (1 << 64) - 1) -> np.ndarray:
    """A field as uint64, masked to its width."""
    return np.atleast_1d(np.asarray(v)).astype(np.uint64) & np.uint64(mask)


class Program:
    """A list of 128-bit player ops, built from vectorized pieces (see engine_tb.sv)."""

    def __init__(self) -> None:
        self._hi: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self.n_ops = 0
        self.n_rsp = 0
        self.n_cmd = 0

    def _add(self, hi: np.ndarray, lo: np.ndarray) -> None:
        hi, lo = np.broadcast_arrays(hi, lo)
        self._hi.append(hi.ravel())
        self._lo.append(lo.ravel())
        self.n_ops += hi.size

    def load(self, buf: Buf, bank: Any, lane: Any, addr: Any, data: np.ndarray, col: Any = 0,
             k: Any = 0, kh: Any = 0, kw: Any = 0, flip: Any = 0) -> None:
        """Load-port words; every argument broadcasts against ``data`` (float32 array)."""
        bits = np.ascontiguousarray(data, dtype=F32).view(np.uint32).astype(np.uint64)
        hi = ((np.uint64(OP_LD) << np.uint64(60)) | (_u64(int(buf)) << np.uint64(58))
              | (_u64(bank, 1) << np.uint64(57)) | (_u64(lane, 0xFF) << np.uint64(49))
              | (_u64(col, 0xFF) << np.uint64(41)) | (_u64(k, 7) << np.uint64(38))
              | (_u64(kh, 7) << np.uint64(35)) | (_u64(kw, 7) << np.uint64(32))
              | (_u64(flip, 1) << np.uint64(31)) | _u64(addr, 0xFFFF))
        hi, bits = np.broadcast_arrays(hi, bits)
        self._add(hi, bits)

    def read(self, buf: Buf, bank: Any, lane: Any, addr: Any, col: Any = 0) -> slice:
        """Unload requests (arguments broadcast); returns their slice of the response stream."""
        hi = ((np.uint64(OP_RD) << np.uint64(60)) | (_u64(int(buf)) << np.uint64(58))
              | (_u64(bank, 1) << np.uint64(57)) | (_u64(lane, 0xFF) << np.uint64(49))
              | (_u64(col, 0xFF) << np.uint64(41)) | _u64(addr, 0xFFFF))
        start = self.n_rsp
        self._add(hi, np.zeros(1, np.uint64))
        self.n_rsp += hi.size
        return slice(start, self.n_rsp)

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

    def hex_text(self) -> str:
        """The program plus END, one 32-digit hex word per line ($readmemh)."""
        hi = np.concatenate([*self._hi, np.array([OP_END << 60], np.uint64)])
        lo = np.concatenate([*self._lo, np.zeros(1, np.uint64)])
        if hi.size > MAX_PROG:
            raise ValueError(f"program of {hi.size} ops exceeds the player's {MAX_PROG}")
        if self.n_rsp > MAX_RSP or self.n_cmd > MAX_LOG:
            raise ValueError("program reads or commands exceed the player's capacity")
        words = np.empty((hi.size, 2), dtype=">u8")
        words[:, 0] = hi
        words[:, 1] = lo
        text = words.tobytes().hex()
        return "\n".join(text[i:i + 32] for i in range(0, len(text), 32)) + "\n"


@dataclass
class Plan:
    """A program, how to decode its responses, and the expected cycles of every command."""

    program: Program
    decode: Callable[[np.ndarray], np.ndarray]
    expected_cycles: list[int]
    modes: list[int]
    expected_err: list[int] = field(default_factory=list)


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


def _load_in_tile(prog: Program, bank: int, tile: np.ndarray) -> None:
    """Input-buffer tile [lanes, rows, cols] at base 0 of ``bank``, lane-major."""
    lanes, rows, cols = tile.shape
    lane = np.repeat(np.arange(lanes), rows * cols)
    addr = np.tile(np.arange(rows * cols), lanes)
    prog.load(Buf.IN, bank, lane, addr, tile.reshape(-1))


def _fp_engine_plan(cfg: HwConfig, xin: np.ndarray, w_dram: np.ndarray, bias: np.ndarray | None,
                    stride: int, mode: Mode, out_ch: int, red_ch: int) -> Plan:
    """FP datapath over padded input ``xin`` [B, red_ch, Hp, Wp].

    ``w_dram`` is the DRAM weight array. FP: [out_ch, red_ch, K, K], loaded straight. BP:
    [red_ch, out_ch, K, K] (the forward layer's w[m, n]), loaded through the flip mode.
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

    prog = Program()
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
                    blk = wd[rr * tn:(rr + 1) * tn, o * tm:(o + 1) * tm]   # [TN (m), TM (n), K, K]
                    m_i, n_i, kh, kw = np.indices(blk.shape)
                    pr.load(Buf.W, 0, m_i.ravel(), base, blk.reshape(-1), col=n_i.ravel(), k=k,
                            kh=kh.ravel(), kw=kw.ravel(), flip=1)
                else:
                    blk = wt_full[o * tm:(o + 1) * tm, rr * tn:(rr + 1) * tn]
                    i_i, j_i, kh, kw = np.indices(blk.shape)
                    pr.load(Buf.W, 0, i_i.ravel(), base, blk.reshape(-1), col=j_i.ravel(), k=k,
                            kh=kh.ravel(), kw=kw.ravel(), flip=0)

    xpad = np.zeros((bsz, rt * tn, hp, wp), F32)
    xpad[:, :red_ch] = xin
    result = np.zeros((bsz, out_ch, oh, ow), F32)
    slices: list[tuple[slice, int, int, int]] = []   # (responses, b, first out ch, count)

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
                st.loads.append(lambda pr, bank=kidx % 2, t=tile: _load_in_tile(pr, bank, t))
                if rr == 0 and bias is not None:
                    bv = np.zeros(tm, F32)
                    bv[:n_valid] = bias[o * tm:o * tm + n_valid]
                    st.loads.append(lambda pr, v=bv: pr.load(Buf.BIAS, 0, np.arange(tm), 0, v))
                if rr == rt - 1:
                    def rd(pr: Program, bank: int = u % 2, nv: int = n_valid, bb: int = b,
                           c0: int = o * tm) -> None:
                        lane = np.repeat(np.arange(nv), p)
                        addr = np.tile(np.arange(p), nv)
                        slices.append((pr.read(Buf.OUT, bank, lane, addr), bb, c0, nv))
                    st.reads.append(rd)
                steps.append(st)
                expected.append(tile_cycles(cfg, mode, k, oh, ow))
    if steps:
        steps[0].loads.insert(0, load_weights)
    _emit(prog, steps)

    def decode(rsp: np.ndarray) -> np.ndarray:
        out = result.copy()
        for sl, bb, c0, nv in slices:
            out[bb, c0:c0 + nv] = rsp[sl].view(F32).reshape(nv, oh, ow)
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
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return _fp_engine_plan(c, xp, w, bias, stride, Mode.FP, out_ch=m, red_ch=n)


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
    return _fp_engine_plan(c, dz, w, None, 1, Mode.BP, out_ch=n, red_ch=m)


def plan_wu(cfg: HwConfig | str, x: np.ndarray, dy: np.ndarray, w_shape: Sequence[int],
            stride: int = 1, padding: int = 0) -> Plan:
    """WU of one layer: x [B,N,H,W], dy [B,M,OH,OW] -> dw [M,N,K,K] (w_shape)."""
    c = preset(cfg)
    _f32("x", x, 4)
    _f32("dy", dy, 4)
    tm, tn, big_l = c.tm, c.tn, c.acc_interleave
    m, n, k, _ = (int(v) for v in w_shape)
    kk = k * k
    bsz = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    hp, wp = xp.shape[2:]
    oh, ow = dy.shape[2:]
    p = oh * ow
    mt, nt = _tiles(m, tm), _tiles(n, tn)
    _check_fit("the input tile", hp * wp, c.in_buf_depth)
    _check_fit("the dy tile", p, c.out_buf_depth)
    _check_fit("the WU partial sums", mt * nt * kk * big_l, c.w_buf_depth)

    prog = Program()
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
                st.loads.append(lambda pr, bank=kidx % 2, t=tile: _load_in_tile(pr, bank, t))
                if dy_bank != u:
                    dy_bank = u
                    dt = dy[b, a * tm:a * tm + mv].reshape(mv, p)

                    def ld_dy(pr: Program, bank: int = u % 2, t: np.ndarray = dt,
                              nl: int = mv) -> None:
                        pr.load(Buf.OUT, bank, np.repeat(np.arange(nl), p),
                                np.tile(np.arange(p), nl), t.reshape(-1))
                    st.loads.append(ld_dy)
    slices: list[tuple[slice, int, int, int, int]] = []
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
                i_i, j_i, r_i = np.indices((mv, nv, kk))
                slices.append((pr.read(Buf.W, 0, i_i.ravel(), base + r_i.ravel(),
                                       col=j_i.ravel()), a * tm, j * tn, mv, nv))
            last.reads.append(rd)
    _emit(prog, steps)

    def decode(rsp: np.ndarray) -> np.ndarray:
        out = np.zeros((m, n, k, k), F32)
        for sl, m0, n0, mv, nv in slices:
            out[m0:m0 + mv, n0:n0 + nv] = rsp[sl].view(F32).reshape(mv, nv, k, k)
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
    """The result array (None for "raw" jobs), the unload responses and every command's log."""

    result: np.ndarray | None
    responses: np.ndarray
    err: np.ndarray          # done_err per command
    cycles: np.ndarray       # done_cycles per command (engine's own count)
    measured: np.ndarray     # accept-to-done cycles measured by the player
    expected: list[int]      # tile_cycles per command
    modes: list[int]
    sim_cycles: int          # cycles the whole program took
    error: str = ""          # a simulation problem (timeout), empty when fine


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
        return Plan(job.program, lambda r: r, exp, [])
    raise ValueError(f"unknown job kind {job.kind!r}")


# ------------------------------------------------------------------------------------------------
# Simulator side: the cocotb test that plays the jobs (test_module "tb.engine.driver").
# ------------------------------------------------------------------------------------------------

def _read_hex(path: Path, width: int) -> list[int]:
    if not path.exists():
        return []
    vals = []
    for line in path.read_text().split():
        if line.startswith(("/", "@")):
            continue
        vals.append(int(line, 16) & ((1 << width) - 1))
    return vals


@dataclass
class _Run:
    """What the simulator needs to play one program (crosses into the simulator process)."""

    hex_text: str
    n_rsp: int
    budget: int          # cycles before the program is declared hung
    idle_16: int = 0
    bp_16: int = 0
    lfsr_seed: int = 1


@dataclass
class _Played:
    """What the simulator hands back for one program."""

    responses: np.ndarray
    logs: list[int]
    sim_cycles: int
    error: str = ""


async def play(dut: Any, run: _Run, workdir: Path | None = None) -> _Played:
    """Play one program on a running engine_tb (clock started, reset released)."""
    from cocotb.triggers import RisingEdge, with_timeout
    from cocotb.utils import get_sim_time

    work = workdir or Path.cwd()
    for name in ("rsp.hex", "log.hex"):
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
    rsp = np.array(_read_hex(work / "rsp.hex", 32), dtype=np.uint32)
    return _Played(rsp, _read_hex(work / "log.hex", 96), sim_cycles, error)


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
        return JobResult(None, np.zeros(0, np.uint32), empty, empty, empty, plan.expected_cycles,
                         plan.modes, 0, why or "not run (an earlier program hung)")
    err = np.array([(v >> 64) & 0xF for v in got.logs], dtype=np.int64)
    cyc = np.array([(v >> 32) & 0xFFFFFFFF for v in got.logs], dtype=np.int64)
    meas = np.array([v & 0xFFFFFFFF for v in got.logs], dtype=np.int64)
    error = got.error
    result = None
    if not error and got.responses.size != plan.program.n_rsp:
        error = f"{got.responses.size} responses, expected {plan.program.n_rsp}"
    if not error:
        result = plan.decode(got.responses)
    return JobResult(result, got.responses, err, cyc, meas, plan.expected_cycles, plan.modes,
                     got.sim_cycles, error)


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
    runs = [_Run(pl.program.hex_text(), pl.program.n_rsp,
                 (sum(pl.expected_cycles) + pl.program.n_ops) * 4 + 20_000,
                 job.idle_16, job.bp_16, job.lfsr_seed) for pl, job in zip(plans, jobs, strict=True)]
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
