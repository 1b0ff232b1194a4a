"""Analytical performance model of the accelerator (``rtl/eftrain_top.sv``) and its design-space exploration.

What is modelled
----------------
One ``Tm x Tn`` FP32 multiply array runs the three training phases of a convolution layer
(SPEC sections 2, 3, 7), fed by one AXI master with an internal DMA and double-buffered
on-chip buffers. The model follows the RTL op by op: a layer phase is one descriptor that the
top level fetches and validates; the layer sequencer (``rtl/eftrain_layer_seq.sv``) expands it
into three in-order op streams, loads (``eftrain_loader``), engine commands
(``eftrain_engine``) and stores (``eftrain_storer``), gated by completion counters; the
loader and storer drive the two halves of ``axi_dma``. Every cycle count is a named field of
:class:`Timing`, each one a term of the RTL (its docstring says which);
:meth:`Timing.from_config` derives them from :class:`~eftrain.config.HwConfig`. On the ``ci``
preset the model gives the measured CYCLES of 136 layer phases (K 1/2/3/5, S 1/2/3, P 0..3,
channels 2..96, maps 1x1..40x40, batch 1..4, one to many row tiles and chunks, folded FC
layers, FP with and without bias) exactly, to the cycle; ``tests/test_perf_rtl.py`` checks
seven of them on every run.

Loop nest (the sequencer's; weights stay on chip across the batch; one *step* per iteration)::

    for mt (lane tiles of Tm output lanes):
      for chunk (reduction tiles t0 .. t0+J-1, J <= the tiling's chunk):
        for b (images; ONE when the layer is folded, see below):
          for row tile (Tr output rows, full width):
            for j in 0 .. J-1:   step (reduction tile nt = t0 + j)

    FP / BP step: loads  [first step of the lane tile, FP with bias: bias fill + bias]
                         [b = 0, first row tile: the weight tile (mt, nt)]
                         [chunk > 0, j = 0: the partial output tile back]
                         [zero fill of the input tile] the input tile (nt)
                  command the FP/BP tile command
                  store  [j = J-1: the output tile]
    WU step:      loads  [j = 0: the dy tile] [zero fill] the x tile (nt)
                  commands [first step of the chunk: WU_CLEAR of every slot] WU
                           [last step of the chunk: WU_COMBINE of every slot]
                  stores [last step of the chunk: the chunk's dW tiles]

BP is FP's schedule with the roles swapped (output lanes over ``N``, reduction over ``M``,
the ``dy`` rows that Tr ``dx`` rows need). Zero fills write the whole input tile's buffer
range before its data (FP/WU with P > 0; BP with K > 1 or S > 1).

Dependencies (the sequencer's gates)
    The loads of step ``i`` wait for the commands of step ``i-2`` (the bank they reuse); a
    weight load also for the commands of the chunk that last used its weight region (two
    regions alternate between chunks when ``2*chunk*K*K <= w_buf_depth``, else one: then the
    first weight load of a chunk waits for all commands of the previous chunk); the bias load
    for the last command that started from the bias registers (exposed when a lane tile has a
    single reduction tile); a partial-output reload for the store of output tile ``o-2``.
    A command waits for every load emitted before it; the first command of output tile ``o``
    (FP/BP) for the store of tile ``o-2``; WU_CLEAR for every earlier store, so a chunk's dW
    stores (the weight buffer is busy during WU commands: they start after the COMBINEs)
    are exposed between its last COMBINE and the next chunk's CLEAR. A store waits for the
    commands before it.

Timing of each unit (cycle-exact against the RTL; field names in parentheses)
    Program: the descriptor is read (``desc_words``) and validated, the sequencer set up
    (``program_setup``); the first load op reaches the loader at :attr:`Timing.first_op`. The
    program ends ``program_finish`` cycles after the last store completes; CYCLES adds
    ``host_overhead`` (the testbench's CTRL write and read-back).
    Loader and DMA read: an op enters the loader when the one ``loader_ops`` back has retired;
    its DMA commands are issued in op order once its gate has passed (a folded layer's map
    tile is one command per pixel; the plain layout one per contiguous range), at most
    ``read_queue`` + 1 in the DMA; ``dma_startup`` to the AR, ``dram_latency +
    response_stage`` to the first beat, then one beat per cycle in order (one-beat commands one
    per ``read_gap`` cycles); the beats reach the engine's load port ``port_delay`` later, one
    per cycle, behind any zero fill on the port (``fill_delay`` after its gate, one address
    per cycle); ``load_retire`` after its last beat (or a fill's accept) the op counts as
    loaded. While a zero fill runs the engine accepts no command: a command that becomes
    ready during the fill of the next step's input tile starts when the fill ends.
    Engine: a command starts in its predecessor's done cycle or when its gates are met; the
    tile-command formulas of :mod:`eftrain.engine_timing` (FP/BP ``K*K*max(P, acc_hazard) +
    fill``, WU ``K*K*P + wu_fill``, WU_CLEAR and WU_COMBINE per kernel position plus latency).
    Storer and DMA write: a store op's commands go out once the commands before it are done
    (``storer_ops`` ops, ``write_queue`` + 1 commands at most): ``dma_startup`` to the AW, the
    W beats from ``w_delay`` after it, the response ``write_latency + response_stage`` after
    the last one (one per ``b_interval``), ``write_done + store_retire`` to the count.

Evaluation
    The machine's state between steps is a short vector of cycle times (the last few load,
    read-command, store and write-command completions, the engine's last done pulse, the port
    and DMA cursors, the chunk, bias and output-tile marks). :func:`simulate_phase` runs it
    step by step. :func:`model_layer` gives the same number fast: the loop nest is a tree of
    nodes (steps, and runs of equal nodes: equal middle reduction tiles, row tiles, images,
    chunks, lane tiles); the machine is shift-invariant, so a node applied to a state it has
    seen up to a shift of all times is looked up, and ``n`` repetitions of a node are applied
    until the state repeats up to a shift, the remaining whole periods then being one shift.
    Exact, and the work grows with the number of distinct nodes, not with the steps.

Geometry and buffers (:mod:`eftrain.tiling`, the one definition the hardware checks)
    The phase is laid out as :func:`eftrain.tiling.phase_geometry` says and a tiling
    ``(Tr, chunk)`` is legal exactly when :func:`eftrain.tiling.check` accepts it. Per lane,
    one bank of each double buffer: the input tile is the full padded window whatever the
    row tile's position, ``((Tr-1)*S + K) x (W + 2P)`` words in FP and WU, and
    ``(Tr + K - 1) x (W + K - 1)`` in BP (a window of the zero-inserted, padded gradient map:
    the DMA loads only the ``dy`` rows inside it, zero-inserted and padding positions are
    zero-filled); the output tile is ``Tr x (output width) <= out_buf_depth`` (WU keeps its
    ``dy`` tile there); weights ``chunk * K*K <= w_buf_depth`` (WU: ``chunk * K*K*L``
    partial sums), ``chunk <= ceil(reduction / Tn)``.

    *Folded* layers (``H = W = K = S = 1, P = 0``: every FC layer, :func:`fc_layer`) fold
    the batch into the width: the engine sees ONE image of ``1 x B`` pixels (``Tr = 1``, one
    row tile), so a step covers the whole batch. Their map tiles stay in the DRAM layout
    ``[B][ceil(C/Tn)][1][1][Tn]``: pixel ``b`` of channel block ``c`` at word
    ``(b*ceil(C/Tn) + c)*Tn``, so a tile transfer is ``B`` DMA commands of ``Tn`` words.

DSE
    Per layer and phase, :func:`choose_tiling` finds the fastest of every legal tiling
    (:func:`legal_tilings`: each row-tile height Tr with each chunk size the rules allow;
    ties: fewer DRAM bytes, taller tiles, fewer chunks, then the most balanced chunks).
    Tilings are evaluated in the order of a lower bound (the engine's command cycles between
    the first step's loads and the last store, in WU with each chunk's exposed dW stores; the
    load port's cycles; the DMA read table's) and the search stops when the bound exceeds the
    best so far: the same choice as evaluating them all. Searching every legal tiling makes
    the choice monotone: a deeper buffer only adds candidates, so it never predicts more
    cycles. The choice always passes :func:`eftrain.tiling.check`
    (:func:`eftrain.descriptors.with_tiling` puts it into a descriptor). The whole VGG-16 at
    batch 16 takes a few seconds.

What the RTL loses (terms of the model that a change to the RTL would remove)
    * A zero fill blocks the engine's command accept: the fill of step ``i+1`` (gated only by
      step ``i-1``) starts as soon as the load port is free and often holds off the command
      of step ``i`` (whenever step ``i`` waited for its loads or, in WU, at every chunk
      start), for up to ``tile rows x buffer width`` cycles; a step whose rows hold no data
      (BP, stride > 1) waits for its own fill. The fills write the whole padded tile, data
      positions included, one address per cycle.
    * WU: the chunk's dW stores wait for its COMBINEs and the next chunk's CLEAR for them.
    * A single set of bias registers: with one reduction tile per lane tile each lane tile's
      bias load waits for the previous lane tile's last command.
    * Folded layers: one 4-word DMA command per pixel, at most ``read_queue`` + 1 in flight.

Comparison with the EF-Train paper's own model
----------------------------------------------
The paper's analytical model predicts about 89.5 GFLOPS on the VGG-16 convolutions at
Tm = Tn = 24, batch 16, 100 MHz (peak 115.2 GFLOPS, 77.7 %). :func:`paper_config` is the
``zcu102`` preset at 24 x 24 with the per-lane buffer depths scaled so the on-chip memory
stays that of the 16 x 16 build (input/output buffers x 16/24: 5461 and 2730 words, weight
buffer x 256/576: 512 words). There, FP + BP + WU of the 13 layers (BP of conv1_1 left out:
an iteration never needs the image gradient) give **94.8 GFLOPS** (82.3 %), 6 % above the
paper: FP 97.4, BP 101.3, WU 87.0 GFLOPS. Other ways to average: counting conv1_1's BP too,
93.7; the arithmetic mean of the 13 per-layer GFLOPS, 92.1. (The model before it followed
the RTL op by op, a lock-step pipeline with loads and stores on one serial DMA, gave 92.6;
it was up to 6 % off the RTL on WU and up to 3x on DMA-bound layers.) What differs:

* Ceiling: VGG-16's widths (64 ... 512) are not multiples of 24, so even a model with no
  DMA, fill or hazard cost tops out at 99.3 GFLOPS (:func:`compute_ceiling`); conv1_1
  (3 input channels on 24 lanes) and the 64/128-channel layers (64 = 24 + 24 + 16) lose
  most. BP lies above the ceiling's average because conv1_1's BP is left out. Keeping the
  16 x 16 build's per-lane depths instead (more BRAM) gives 95.2 GFLOPS.
* DMA: the reference sequences 4 AXI DMA engines from the ARM tile by tile, ~400 cycles of
  start-up per transfer, 4 words per cycle; ours is one internal DMA, 4 words per beat
  (128-bit bus), 3 + 41 cycles to the first beat, reads and writes independent, up to 5
  commands queued per direction. Even a 400-cycle start-up per DMA command changes little
  here (94.6 GFLOPS): the queue hides it behind the tiles before. The plain NCHW layout
  (one command per contiguous range) gives 95.9 GFLOPS: it moves no padding lanes, and the
  queued commands hide the many ranges; reshaping pays off in AXI bursts (about 1.9x fewer
  on VGG-16 at 16 x 16, :func:`dram_traffic`), not in cycles, with this DMA.
* WU is the weakest phase: the dy tile is loaded again for every chunk, the zero fill of the
  next step blocks the engine at every chunk start, and the dW stores are exposed.
* Averaging: the headline is total FLOPs / total time (what a training iteration sees).
  We have not been able to check how the paper averages (per layer? FP only?), hence the
  alternatives above; all of them lie between 92.1 and 94.8 GFLOPS.

``tests/test_perf.py`` requires the figure to lie in [0.9 x 89.5, 99.3 (the ceiling)]
GFLOPS: the top is a hard bound no schedule beats; the bottom lets the paper's model be
at most 10 % optimistic against ours, which, with our much shorter DMA start-up and
batch-inner weight reuse, it should not be.

At the ``zcu102`` preset (16 x 16), batch 16, VGG-16 reaches 97.4 % (FP), 99.7 % (BP,
conv1_1 excluded) and 95.5 % (WU) utilization (total MACs / total cycles; every layer phase
but conv1_1's, at 17.6 to 18.7 % = 3/16 lanes, is at 95.3 % or more), 97.5 % and 49.9
GFLOPS for the iteration.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from eftrain import engine_timing
from eftrain import tiling as tiling_rules
from eftrain.config import HwConfig, preset
from eftrain.descriptors import DESC_WORDS
from eftrain.networks import ConvLayer, fc_layer, get_network, network_names

__all__ = [
    "PAPER_VGG16_GFLOPS",
    "PHASES",
    "ConvLayer",
    "DramTraffic",
    "LayerResult",
    "PhaseResult",
    "Tiling",
    "TilingInfo",
    "Timing",
    "Transfer",
    "check_tiling",
    "choose_tiling",
    "compute_ceiling",
    "dram_traffic",
    "fc_layer",
    "format_table",
    "get_network",
    "legal_tilings",
    "model_layer",
    "model_network",
    "network_names",
    "paper_config",
    "report",
    "simulate_phase",
    "tile_schedule",
]

PHASES: tuple[str, ...] = ("fp", "bp", "wu")
KINDS: tuple[str, ...] = ("reshaped", "plain")
PAPER_VGG16_GFLOPS = 89.5
"""The EF-Train paper's model: VGG-16 convolutions at Tm = Tn = 24, batch 16, 100 MHz."""

_WORD_BYTES = 4
_I64 = np.int64


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class Timing:
    """Every timing quantity of the model, in clock cycles; each is a term of the RTL.

    Engine (``rtl/eftrain_engine.sv``, :mod:`eftrain.engine_timing`): a tile command takes
    ``K*K * max(P, acc_hazard) + fill`` (FP/BP) or ``K*K * P + wu_fill`` (WU) cycles from its
    accept to its done pulse; ``WU_CLEAR`` ``K*K * clear_per_position + clear_latency``;
    ``WU_COMBINE`` ``K*K * combine_per_position + combine_latency``. A command is accepted in
    its predecessor's done cycle; ``computed_cnt`` counts it from the next cycle.

    Program (``rtl/eftrain_top.sv``):
        program_setup: START to the first op reaching the loader, without the descriptor
            read: PROG_CHECK (1), the fetch's completion and the FSM to CHECK_START (3),
            validation (``eftrain_desc_check``: 10 cycles to RUN), the sequencer's set-up and
            its first step (11). The descriptor read itself costs ``dma_startup +
            dram_latency + response_stage`` plus its beats (``desc_words`` words).
        desc_words: words of a descriptor (:data:`eftrain.descriptors.DESC_WORDS`).
        program_finish: the last ``stored_cnt`` increment to the end of BUSY (all counts
            match: C_FINISH, then DONE).
        host_overhead: what the CYCLES counter adds to BUSY in the fast-mode testbench
            (``tb/top/runner.py``: it counts from the CTRL write that clears the counters and
            starts, to the host's read of CYCLES_LO after the interrupt).

    DMA (``rtl/axi_dma*.sv``) and DRAM (the preset's latency; ``tb/top/axi_mem_model.sv``):
        dma_startup: a command's accept to its AR (AW): the check register, the transfer
            table, the address register (:attr:`HwConfig.dma_startup`).
        dram_latency: AR accepted to read data due (:attr:`HwConfig.dram_latency`).
        write_latency: last W beat to write response due (the memory model's ``+wr_lat``;
            no preset field).
        response_stage: the memory answers one cycle after data or response is due (its
            R and B channels are registered).
        words_per_beat: FP32 words per AXI beat.
        read_queue, write_queue: DMA commands per direction in the transfer table
            (``QUEUE_DEPTH``); one more waits in the check register.
        read_done: the last R beat of a command to its completion.
        table_free: a read completion to the AR of the command that takes its table entry.
        read_gap: cycles between two read completions (the completion register's handshake:
            one-beat commands stream one beat every 2 cycles).
        w_delay: AW to the first W beat.
        b_interval: cycles between two write responses the DMA accepts.
        write_done: write response to the DMA's completion.

    Loader (``rtl/eftrain_loader.sv``) and storer (``rtl/eftrain_storer.sv``):
        loader_ops, storer_ops: ops each holds from its accept to its retire (``OP_DEPTH``).
        port_delay: an R beat to the engine's load port (DMA skid buffer, loader port buffer;
            together they hold 4 beats while the port is busy).
        load_retire: an op's last beat (or a fill's accept) at the port to ``loaded_cnt``.
        fill_delay: a fill's gate to its accept at the load port.
        store_retire: a write completion to ``stored_cnt``.
    """

    fill: int
    acc_hazard: int
    wu_fill: int
    clear_per_position: int
    clear_latency: int
    combine_per_position: int
    combine_latency: int
    dma_startup: int
    dram_latency: int
    words_per_beat: int
    write_latency: int = 8
    response_stage: int = 1
    program_setup: int = 25
    desc_words: int = DESC_WORDS
    program_finish: int = 2
    host_overhead: int = 13
    read_queue: int = 4
    write_queue: int = 4
    read_done: int = 1
    table_free: int = 2
    read_gap: int = 2
    w_delay: int = 2
    b_interval: int = 2
    write_done: int = 2
    loader_ops: int = 4
    storer_ops: int = 4
    port_delay: int = 2
    load_retire: int = 2
    fill_delay: int = 2
    store_retire: int = 1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Timing.{name} must be a non-negative integer, got {value!r}")
        for name in ("words_per_beat", "read_queue", "write_queue", "loader_ops", "storer_ops",
                     "desc_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"Timing.{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_config(cls, cfg: HwConfig | str, **overrides: int) -> Timing:
        """The RTL's timing for hardware ``cfg``; keyword arguments replace single fields."""
        c = preset(cfg)
        big_l = c.acc_interleave
        t = cls(
            fill=engine_timing.fp_drain(c),
            acc_hazard=engine_timing.fp_pass_min(c),
            wu_fill=engine_timing.wu_drain(c),
            clear_per_position=big_l,
            clear_latency=engine_timing.wu_clear_cycles(c, 0),
            combine_per_position=2 * (big_l - 1),
            combine_latency=engine_timing.wu_combine_cycles(c, 0),
            dma_startup=c.dma_startup,
            dram_latency=c.dram_latency,
            words_per_beat=c.words_per_beat,
        )
        return replace(t, **overrides) if overrides else t

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def first_op(self) -> int:
        """START to the first load op at the loader: set-up plus the descriptor read."""
        return (self.program_setup + self.dma_startup + self.dram_latency + self.response_stage
                + _cdiv(self.desc_words, self.words_per_beat) - 1)



@dataclass(frozen=True)
class Tiling:
    """A tiling choice for one layer phase.

    Attributes:
        tr: rows of the tiled output map per row tile (FP: ``y`` rows, BP: ``dx`` rows,
            WU: ``dy`` rows); full width always.
        chunk_tiles: reduction tiles (FP/BP) or ``n`` tiles (WU) per weight chunk; ``None``
            for as many as fit, balanced over the chunks.
    """

    tr: int
    chunk_tiles: int | None = None


@dataclass(frozen=True)
class TilingInfo:
    """A resolved tiling with the buffer use it implies (words per lane, one bank), as
    :func:`eftrain.tiling.phase_geometry` lays it out.

    Attributes:
        tr, chunk_tiles: the tiling (output rows per row tile, reduction tiles per chunk).
        row_tiles, n_chunks, lane_tiles, red_tiles: tiles of the loop nest.
        in_rows: rows of the input tile in the buffer (its full padded window).
        in_buf_words, out_buf_words, w_buf_words: buffer words per lane the tiling uses.
        images: image passes of the step loop (the batch; 1 for a folded layer).
        width: output-map words per row (a folded layer: the batch).
        folded: the batch is folded into the width (:func:`eftrain.tiling.folded`).
    """

    tr: int
    row_tiles: int
    chunk_tiles: int
    n_chunks: int
    lane_tiles: int
    red_tiles: int
    in_rows: int
    in_buf_words: int
    out_buf_words: int
    w_buf_words: int
    images: int
    width: int
    folded: bool

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class PhaseResult:
    """Model result of one layer phase (cycles at the engine clock).

    ``cycles``: the program's CYCLES count (START to DONE plus the host's read-back, as the
    testbench measures it). ``compute_cycles``: the engine's command cycles (tile commands,
    WU_CLEAR, WU_COMBINE). ``load_cycles``: the engine load port's busy cycles (read beats
    and zero fills); ``store_cycles``: the write beats; ``exposed_dma_cycles``: everything
    not hidden behind computation (``cycles - compute_cycles``). ``transfers``: DMA
    transfers (tiles, bias vectors), ``steps``: steps of the loop nest.
    """

    phase: str
    cycles: int
    compute_cycles: int
    load_cycles: int
    store_cycles: int
    exposed_dma_cycles: int
    macs: int
    utilization: float
    gflops: float
    dram_bytes_read: int
    dram_bytes_written: int
    transfers: int
    steps: int
    tiling: TilingInfo

    @property
    def dram_bytes(self) -> int:
        return self.dram_bytes_read + self.dram_bytes_written

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dram_bytes"] = self.dram_bytes
        d["tiling"] = self.tiling.to_dict()
        return d


@dataclass(frozen=True)
class LayerResult:
    """FP, BP and WU of one layer."""

    layer: ConvLayer
    fp: PhaseResult
    bp: PhaseResult
    wu: PhaseResult

    def phases(self) -> dict[str, PhaseResult]:
        return {"fp": self.fp, "bp": self.bp, "wu": self.wu}


class Transfer(NamedTuple):
    """One DMA transfer of a tile: tensor name, ``"read"``/``"write"``, its box and images.

    Tensors: ``x`` ``(B, N, H, W)``, ``y`` and ``dy`` ``(B, M, OH, OW)``, ``dx`` ``(B, N, H, W)``,
    ``w`` and ``dw`` ``(M, N, K, K)``. Feature-map boxes are ``(b, c0, c1, r0, r1, col0, col1)``,
    weight boxes ``(m0, m1, n0, n1)``, as :mod:`eftrain.golden.layout` takes them (DRAM
    coordinates). ``images``: the transfer moves the box in images ``b .. b + images - 1``
    (more than one only for a folded layer's maps, whose tile spans the whole batch); its
    contiguous ranges are those of the per-image boxes, merged where adjacent.
    """

    tensor: str
    direction: str
    box: tuple[int, ...]
    images: int = 1


# ---------------------------------------------------------------------------------------------
# geometry and tiling (the rules are eftrain.tiling's; this section only applies them)


@dataclass(frozen=True)
class _Geom:
    """A layer phase as the engine sees it: :func:`eftrain.tiling.phase_geometry` plus the
    tensors it moves and how its maps sit in DRAM."""

    layer: ConvLayer
    phase: str
    pg: tiling_rules.PhaseGeometry
    batch: int  # images in DRAM
    in_tensor: str
    out_tensor: str
    w_tensor: str
    in_cols: int  # DRAM columns of the streamed input map
    out_cols: int  # DRAM columns of the output map

    # the engine's view (a folded layer: ONE image of 1 x batch pixels)
    @property
    def lanes(self) -> int:
        return self.pg.lanes

    @property
    def red(self) -> int:
        return self.pg.red

    @property
    def rows(self) -> int:
        return self.pg.rows

    @property
    def width(self) -> int:
        return self.pg.width

    @property
    def in_rows(self) -> int:
        return self.pg.in_rows

    @property
    def buf_width(self) -> int:
        return self.pg.buf_width

    @property
    def images(self) -> int:
        """Image passes of the step loop (1 when folded)."""
        return self.pg.images

    @property
    def span(self) -> int:
        """DRAM images one feature-map transfer covers (the whole batch when folded)."""
        return self.batch if self.pg.folded else 1


def _check_batch(batch: object) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")


def _geom(layer: ConvLayer, phase: str, cfg: HwConfig, batch: int) -> _Geom:
    if not isinstance(layer, ConvLayer):
        raise ValueError(f"layer must be a ConvLayer, got {type(layer).__name__}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    _check_batch(batch)
    L = layer
    pg = tiling_rules.phase_geometry(phase, cfg, batch, L.m, L.n, L.h, L.w, L.k, L.s, L.p)
    tensors = {"fp": ("x", "y", "w", L.w, L.ow), "bp": ("dy", "dx", "w", L.ow, L.w),
               "wu": ("x", "dy", "dw", L.w, L.ow)}[phase]
    return _Geom(L, phase, pg, batch, *tensors)


def _in_rows(g: _Geom, r0: np.ndarray, r1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[lo, hi)`` of the streamed input map that output rows ``[r0, r1)`` need: the
    rows the DMA loads (the rest of the input tile's padded window is zero-filled)."""
    k, s, p = g.layer.k, g.layer.s, g.layer.p
    if g.phase == "bp":  # gradient-map rows [r0, r0 + tr + K - 1) hold these dy rows
        lo = -((-(r0 + p - k + 1)) // s)
        hi = (r1 - 1 + p) // s + 1
    else:
        lo = r0 * s - p
        hi = (r1 - 1) * s - p + k
    lo = np.clip(lo, 0, g.in_rows)
    hi = np.maximum(np.clip(hi, 0, g.in_rows), lo)
    return lo, hi


@dataclass(frozen=True)
class _Plan:
    g: _Geom
    cfg: HwConfig
    info: TilingInfo
    r0: np.ndarray  # (R,) first output row of each row tile
    r1: np.ndarray  # (R,) end row
    lo: np.ndarray  # (R,) first input row loaded
    hi: np.ndarray  # (R,) end input row loaded
    chunks: tuple[tuple[int, int], ...]  # reduction-tile ranges [t0, t1)


def _max_chunk(g: _Geom, cfg: HwConfig) -> int:
    """Reduction tiles whose weights (WU: partial sums) fit the weight buffer at once."""
    return cfg.w_buf_depth // g.pg.w_chunk_words(1, cfg.acc_interleave)


def _verdict(g: _Geom, cfg: HwConfig, tr: int, chunk: int) -> str | None:
    """:func:`eftrain.tiling.check` of this phase: ``None`` (legal), ``"field"`` or ``"buffer"``."""
    return tiling_rules.check(g.pg, cfg, g.layer.k, g.layer.s, tr, chunk)


def _chunks(red_tiles: int, chunk: int) -> tuple[tuple[int, int], ...]:
    return tuple((t, min(t + chunk, red_tiles)) for t in range(0, red_tiles, chunk))


def _plan(layer: ConvLayer, phase: str, cfg: HwConfig, tiling: Tiling, batch: int) -> _Plan:
    g = _geom(layer, phase, cfg, batch)
    pg, k, s = g.pg, layer.k, layer.s
    tr, chunk = tiling.tr, tiling.chunk_tiles
    if isinstance(tr, bool) or not isinstance(tr, int):
        raise ValueError(f"tiling.tr must be an integer, got {tr!r}")
    if chunk is None:  # as many as fit, balanced over the chunks
        max_fit = _max_chunk(g, cfg)
        if max_fit < 1:
            raise ValueError(
                f"{layer.name} {phase}: one weight tile needs {pg.w_chunk_words(1, cfg.acc_interleave)} "
                f"words per lane, w_buf_depth is {cfg.w_buf_depth}"
            )
        chunk = _cdiv(pg.red_tiles, _cdiv(pg.red_tiles, max_fit))
    elif isinstance(chunk, bool) or not isinstance(chunk, int):
        raise ValueError(f"tiling.chunk_tiles must be an integer or None, got {chunk!r}")
    verdict = _verdict(g, cfg, tr, chunk)
    if verdict == "field":
        raise ValueError(
            f"{layer.name} {phase}: tiling tr={tr} chunk={chunk} out of range (tr in 1..{pg.rows}, "
            f"chunk in 1..{pg.red_tiles}; eftrain.tiling rule 1)"
        )
    if verdict == "buffer":
        raise ValueError(
            f"{layer.name} {phase}: tiling tr={tr} chunk={chunk} overflows a buffer (words per lane: "
            f"input {pg.in_tile_words(tr, k, s)} = {pg.in_tile_rows(tr, k, s)} rows x {pg.buf_width} "
            f"of {cfg.in_buf_depth}, output {pg.out_tile_words(tr)} of {cfg.out_buf_depth}, weights "
            f"{pg.w_chunk_words(chunk, cfg.acc_interleave)} of {cfg.w_buf_depth}; eftrain.tiling rule 2)"
        )
    r0 = np.arange(0, pg.rows, tr, dtype=_I64)
    r1 = np.minimum(r0 + tr, pg.rows)
    lo, hi = _in_rows(g, r0, r1)
    chunks = _chunks(pg.red_tiles, chunk)
    info = TilingInfo(
        tr=tr,
        row_tiles=len(r0),
        chunk_tiles=chunk,
        n_chunks=len(chunks),
        lane_tiles=pg.lane_tiles,
        red_tiles=pg.red_tiles,
        in_rows=pg.in_tile_rows(tr, k, s),
        in_buf_words=pg.in_tile_words(tr, k, s),
        out_buf_words=pg.out_tile_words(tr),
        w_buf_words=pg.w_chunk_words(chunk, cfg.acc_interleave),
        images=pg.images,
        width=pg.width,
        folded=pg.folded,
    )
    return _Plan(g, cfg, info, r0, r1, lo, hi, chunks)


def _rechunk(plan: _Plan, chunk: int) -> _Plan:
    """``plan`` with a different (legal) chunk size (same rows, so the same DMA tables)."""
    chunks = _chunks(plan.info.red_tiles, chunk)
    w_words = plan.g.pg.w_chunk_words(chunk, plan.cfg.acc_interleave)
    info = replace(plan.info, chunk_tiles=chunk, n_chunks=len(chunks), w_buf_words=w_words)
    return replace(plan, info=info, chunks=chunks)


def check_tiling(layer: ConvLayer, phase: str, cfg: HwConfig | str, tiling: Tiling,
                 batch: int = 1) -> TilingInfo:
    """Validate ``tiling`` with :func:`eftrain.tiling.check` (``ValueError`` if the hardware
    would reject it); return the resolved :class:`TilingInfo`. ``batch`` matters for folded
    layers only (their row is the batch)."""
    return _plan(layer, phase, preset(cfg), tiling, batch).info


def _legal_rows(layer: ConvLayer, phase: str, cfg: HwConfig, batch: int) -> list[_Plan]:
    """Plans (default chunking) of every row-tile height some chunk size makes legal.

    The weight rule does not depend on ``tr``, so ``tr`` is legal with some chunk exactly
    when it is legal with one reduction tile per chunk.
    """
    g = _geom(layer, phase, cfg, batch)
    return [_plan(layer, phase, cfg, Tiling(tr), batch)
            for tr in range(1, g.rows + 1) if _verdict(g, cfg, tr, 1) is None]


def _chunk_sizes(plan: _Plan) -> range:
    """Every chunk size :func:`eftrain.tiling.check` accepts with this plan's rows, largest first."""
    return range(min(plan.info.red_tiles, _max_chunk(plan.g, plan.cfg)), 0, -1)


def legal_tilings(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1) -> list[Tiling]:
    """Every tiling the hardware accepts (:func:`eftrain.tiling.check`): the DSE's candidates.

    Row tiles from short to tall, chunk sizes from large to small; ``batch`` matters for
    folded layers only.
    """
    c = preset(cfg)
    return [Tiling(plan.info.tr, ct)
            for plan in _legal_rows(layer, phase, c, batch) for ct in _chunk_sizes(plan)]


# ---------------------------------------------------------------------------------------------
# transfer shapes: (contiguous ranges, words per range), mirroring eftrain.golden.layout


def _fmap_xfer(
    kind: str, shape: Sequence[int], cb: int, c0: Any, c1: Any, r0: Any, r1: Any, images: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Ranges and words per range of full-width feature-map boxes (arrays broadcast) moved in
    ``images`` consecutive images (a folded map's tile: the whole batch)."""
    _, c, h, w = shape
    c0, c1, r0, r1 = (np.asarray(v, dtype=_I64) for v in (c0, c1, r0, r1))
    rows = r1 - r0
    full = (r0 == 0) & (r1 == h)
    if kind == "reshaped":
        b0, b1 = c0 // cb, -((-c1) // cb)
        units, unit, whole = b1 - b0, w * cb, (b0 == 0) & (b1 == _cdiv(c, cb))
    elif kind == "plain":
        units, unit, whole = c1 - c0, w, (c0 == 0) & (c1 == c)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    nr = np.where(full, 1, units)
    wpr = np.where(full, units * h * unit, rows * unit)
    if images > 1:  # consecutive images are one run when the box is the whole image
        join = full & whole
        nr, wpr = np.where(join, 1, images * nr), np.where(join, images * wpr, wpr)
    empty = rows <= 0
    return np.where(empty, 0, nr), np.where(empty, 0, wpr)


def _w_xfer(
    kind: str, shape: Sequence[int], tm: int, tn: int, m0: Any, m1: Any, n0: Any, n1: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Ranges and words per range of weight boxes (all kernel positions; arrays broadcast)."""
    _, n, k, _ = shape
    m0, m1, n0, n1 = (np.asarray(v, dtype=_I64) for v in (m0, m1, n0, n1))
    if kind == "reshaped":
        nm = -((-m1) // tm) - m0 // tm
        nn = -((-n1) // tn) - n0 // tn
        full = nn == _cdiv(n, tn)
        tile = tm * tn * k * k
        return np.where(full, 1, nm), np.where(full, nm * nn * tile, nn * tile)
    if kind == "plain":
        full = (n0 == 0) & (n1 == n)
        return np.where(full, 1, m1 - m0), np.where(full, (m1 - m0) * n * k * k, (n1 - n0) * k * k)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _shapes(layer: ConvLayer, batch: int) -> dict[str, tuple[int, int, int, int]]:
    L = layer
    return {
        "x": (batch, L.n, L.h, L.w),
        "dx": (batch, L.n, L.h, L.w),
        "y": (batch, L.m, L.oh, L.ow),
        "dy": (batch, L.m, L.oh, L.ow),
        "w": (L.m, L.n, L.k, L.k),
        "dw": (L.m, L.n, L.k, L.k),
    }


def _transfer_shape(tr: Transfer, shapes: dict[str, tuple[int, int, int, int]], cfg: HwConfig,
                    kind: str) -> tuple[int, int]:
    """(contiguous ranges, words per range) of one transfer (a bias vector: one range)."""
    if tr.tensor == "b":
        return 1, tr.box[1] - tr.box[0]
    shape = shapes[tr.tensor]
    if tr.tensor in ("w", "dw"):
        m0, m1, n0, n1 = tr.box
        nr, wpr = _w_xfer(kind, shape, cfg.tm, cfg.tn, m0, m1, n0, n1)
    else:
        _, c0, c1, r0, r1, _, _ = tr.box
        nr, wpr = _fmap_xfer(kind, shape, cfg.tn, c0, c1, r0, r1, tr.images)
    return int(nr), int(wpr)


# ---------------------------------------------------------------------------------------------
# the layer controller: op streams (rtl/eftrain_layer_seq.sv) and their timing


# step record: (loads, commands, stores, flags), one per step, as the sequencer emits them
#   load    (kind, size, segments, gate): kind _DATA (size: beats per DMA command), _FILL or
#           _BFILL (size: addresses); gate: which completed commands / stores it waits for
#   command (cycles, store gate)
#   store   (beats per DMA command, segments, output tile: updates the bank-reuse marks)
_DATA, _FILL, _BFILL = 0, 1, 2
_G_M2, _G_W2, _G_W1, _G_B, _G_RL = 0, 1, 2, 3, 4  # step i-2 / +weight region / +bias / +store
_WS_NONE, _WS_ST2, _WS_ALL = 0, 1, 2
_F_CHUNK, _F_BIAS = 1, 2  # a chunk starts at this step / its command is the last from the bias
_M_W, _M_C, _M_B, _M_T = 1, 2, 4, 8  # state groups beyond the always-live ones: write side,
#                                      chunk marks, bias mark, output-tile store marks


class _Layout:
    """Indices of the machine state (a flat list of cycle times) for a :class:`Timing`."""

    def __init__(self, t: Timing) -> None:
        i = 0

        def take(n: int) -> int:
            nonlocal i
            i += n
            return i - n

        self.L = take(t.loader_ops)  # loaded_cnt times of the last loader_ops load ops
        self.LPREV = take(1)  # loaded time of the last load op of the previous step
        self.CMDSIDE = take(1)  # the loader's command side is free
        self.PORT = take(1)  # the engine's load port is free
        self.AR = take(1)  # last AR
        self.RLAST = take(1)  # last R beat
        self.RD = take(t.read_queue + 1)  # completions of the last read_queue + 1 read commands
        self.FA = take(1)  # the last zero fill of the previous step: its accept,
        self.FE = take(1)  # and its end (a step whose fill is its last load can hold its command)
        self.ENG = take(1)  # done pulse of the last command
        self.CCUR = take(1)  # computed_cnt reaches the commands before the current chunk
        self.CPREV = take(1)  # ... before the previous chunk
        self.BIAS = take(1)  # ... the last command that started from the bias registers
        self.ST1 = take(1)  # stored time of the last output tile
        self.ST2 = take(1)  # ... of the one before
        self.S = take(t.storer_ops)  # stored_cnt times of the last storer_ops store ops
        self.WD = take(t.write_queue + 1)  # completions of the last write_queue + 1 write commands
        self.WCMD = take(1)
        self.AW = take(1)
        self.WL = take(1)
        self.BL = take(1)
        self.size = i
        live = list(range(self.ENG + 1))
        groups = {_M_C: [self.CCUR, self.CPREV], _M_B: [self.BIAS], _M_T: [self.ST1, self.ST2],
                  _M_W: list(range(self.S, i))}
        self.masked = [live + sorted(x for m, ix in groups.items() if mask & m for x in ix)
                       for mask in range(16)]
        self.getters = [operator.itemgetter(*ix) for ix in self.masked]
        self.REF = self.L + t.loader_ops - 1  # the reference time of a normalised state
        # Marks and write-side times only ever meet times at or after the engine's last done
        # pulse ENG (which only grows) plus a floor: below ENG + floor they are dead, and any
        # value up to ENG + floor acts the same. _Net._key lifts dead ones to ENG + floor, so
        # states that differ only in how long ago a dead time was compare equal.
        ds, wdel, wlat = t.dma_startup, t.w_delay, t.write_latency + t.response_stage
        floor = {self.FA: -1, self.FE: 0, self.CCUR: 1, self.CPREV: 1, self.BIAS: 1, self.ST1: 0,
                 self.ST2: 0, self.WCMD: 0,
                 self.AW: ds, self.WL: ds + wdel, self.BL: ds + wdel + 1 + wlat - t.b_interval}
        floor.update({i: 0 for i in range(self.S, self.S + t.storer_ops)})
        floor.update({i: 1 for i in range(self.WD, self.WD + t.write_queue + 1)})
        self.floors = [[(i, floor[i]) for i in ix if i in floor] for ix in self.masked]

    def initial(self, t: Timing) -> list[int]:
        """The state at START: no event yet (time 0 constrains nothing), the first load op
        reaches the loader at :attr:`Timing.first_op`."""
        s = [0] * self.size
        s[self.L:self.L + t.loader_ops] = [t.first_op] * t.loader_ops
        return s


def _make_unit(t: Timing, lay: _Layout) -> Any:
    """The step transition of the machine: ``unit(s, prev, rec)`` runs the loads of step ``i``
    (``rec``) and the commands and stores of step ``i - 1`` (``prev``) on the state ``s``.

    Loads of step ``i`` wait only for the commands of step ``i - 2`` (or older), except a
    single-region weight load at a chunk's start and a bias load right after the last bias
    command: those wait for step ``i - 1``, whose commands then run first. Commands of step
    ``i - 1`` are accepted only outside the zero fill of step ``i`` on the load port (and of
    step ``i - 1``: its command can count a fill loaded while the fill still runs).
    """
    L, LPREV, CMDSIDE, PORT, AR, RLAST = lay.L, lay.LPREV, lay.CMDSIDE, lay.PORT, lay.AR, lay.RLAST
    RD, FA, FE, ENG, CCUR, CPREV = lay.RD, lay.FA, lay.FE, lay.ENG, lay.CCUR, lay.CPREV
    S, ST1, ST2, WD = lay.S, lay.ST1, lay.ST2, lay.WD
    WCMD, AWI, WLI, BLI = lay.WCMD, lay.AW, lay.WL, lay.BL
    L_LAST, S_LAST = L + t.loader_ops - 1, S + t.storer_ops - 1
    RD_LAST, WD_LAST = RD + t.read_queue, WD + t.write_queue
    GATE = (0, lay.CPREV, lay.CCUR, lay.BIAS, lay.ST1)  # state index of a load gate's mark
    ds, lat = t.dma_startup, t.dram_latency + t.response_stage
    pd, rdone, tfree, gap = t.port_delay, t.read_done, t.table_free, t.read_gap
    lret, fdel = t.load_retire, t.fill_delay
    wdel, wlat, bint = t.w_delay, t.write_latency + t.response_stage, t.b_interval
    wdone, sret = t.write_done, t.store_retire

    def commands(s: list[int], prev: tuple[Any, ...], fills: list[tuple[int, int]]) -> None:
        eng = s[ENG]
        lp = s[LPREV]
        for dur, ws in prev[1]:
            r = eng if eng > lp else lp
            if ws:
                w = s[ST2] if ws == _WS_ST2 else s[S_LAST]
                if w > r:
                    r = w
            for a, e in fills:
                if a < r < e:  # the zero fill holds cmd_ready low
                    r = e
            eng = r + dur
        s[ENG] = eng
        if prev[3] & _F_BIAS:
            s[lay.BIAS] = eng + 1

    def stores(s: list[int], prev: tuple[Any, ...]) -> None:
        done = s[ENG] + 1
        wcmd, aw, wl, bl = s[WCMD], s[AWI], s[WLI], s[BLI]
        for beats, nseg, tile in prev[2]:
            acc = s[S] + 1  # the op enters the storer when the one storer_ops back retires
            if done > acc:
                acc = done
            for _ in range(nseg):
                if wcmd + 1 > acc:
                    acc = wcmd + 1
                if s[WD] > acc:
                    acc = s[WD]
                wcmd = acc
                aw = acc + ds if acc + ds > aw + 1 else aw + 1
                x = aw + wdel + beats - 1
                wl = x if x > wl + beats else wl + beats
                bl = wl + wlat if wl + wlat > bl + bint else bl + bint
                del s[WD]
                s.insert(WD_LAST, bl + wdone)
            stored = bl + wdone + sret
            del s[S]
            s.insert(S_LAST, stored)
            if tile:
                s[ST2] = s[ST1]
                s[ST1] = stored
        s[WCMD], s[AWI], s[WLI], s[BLI] = wcmd, aw, wl, bl

    def unit(s: list[int], prev: tuple[Any, ...] | None, rec: tuple[Any, ...] | None) -> None:
        fills = [(s[FA], s[FE])]  # fills that can hold the commands of step i - 1
        pending = prev is not None
        if rec is not None:
            m2 = s[ENG] + 1  # computed_cnt covers the commands of step i - 2
            flags = rec[3]
            if flags & _F_CHUNK:
                s[CPREV] = s[CCUR]
            for kind, n, nseg, gate in rec[0]:
                if gate:
                    if pending and ((gate == _G_W1 and flags & _F_CHUNK)
                                    or (gate == _G_B and prev[3] & _F_BIAS)):  # type: ignore[index]
                        commands(s, prev, fills)  # type: ignore[arg-type]
                        pending = False
                        if flags & _F_CHUNK:
                            s[CCUR] = s[ENG] + 1
                    g = s[GATE[gate]]
                    if m2 > g:
                        g = m2
                else:
                    g = m2
                enter = s[L]
                cs = s[CMDSIDE]
                if kind == _DATA:
                    acc = enter + 1
                    if cs > acc:
                        acc = cs
                    if g > acc:
                        acc = g
                    port, arl, rl = s[PORT], s[AR], s[RLAST]
                    step = gap + 1 - n if gap + 1 - n > 1 else 1
                    for _ in range(nseg):
                        if s[RD] > acc:  # the check register is free
                            acc = s[RD]
                        ar = acc + ds
                        if arl + 1 > ar:
                            ar = arl + 1
                        if s[RD + 1] + tfree > ar:  # a transfer-table entry is free
                            ar = s[RD + 1] + tfree
                        arl = ar
                        first = ar + lat
                        if rl + step > first:
                            first = rl + step
                        pf = first + pd
                        if port > pf:
                            pf = port
                        port = pf + n
                        rl = port - 1 - pd
                        if first + n - 1 > rl:
                            rl = first + n - 1
                        del s[RD]
                        s.insert(RD_LAST, port - 1 - pd + rdone)
                        acc += 1
                    s[CMDSIDE], s[PORT], s[AR], s[RLAST] = acc, port, arl, rl
                    loaded = port - 1 + lret
                else:
                    c = enter + 1
                    if cs > c:
                        c = cs
                    if g > c:
                        c = g
                    s[CMDSIDE] = c + 1
                    a = s[PORT]
                    if g + fdel > a:
                        a = g + fdel
                    if enter + 2 > a:
                        a = enter + 2
                    s[PORT] = a + (n if n > 1 else 1)
                    loaded = a + lret
                    if kind == _FILL and n > 1:
                        fills.append((a, a + n))
                del s[L]
                s.insert(L_LAST, loaded)
        if pending:
            commands(s, prev, fills)  # type: ignore[arg-type]
            if rec is not None and rec[3] & _F_CHUNK:
                s[CCUR] = s[ENG] + 1
        if prev is not None and prev[2]:
            stores(s, prev)
        if rec is not None:
            s[LPREV] = s[L_LAST]
            s[FA], s[FE] = fills[-1] if len(fills) > 1 else (0, 0)

    return unit


class _Rows:
    """What the sequencer's records read of a plan that does not depend on its chunking (the
    row tiles, lane tiles and reduction tiles), and the records and nodes built from it.

    A record depends on its step only through classes (lane tile, reduction tile, row tile,
    image, position in the chunk): equal classes give the same record, so the fast model can
    repeat them. Nodes: a record (leaf) or a sequence of ``(node, count)`` runs (:class:`_Net`).
    """

    def __init__(self, plan: _Plan, t: Timing, kind: str, bias: bool, net: _Net) -> None:
        g, c = plan.g, plan.cfg
        L = g.layer
        self.t, self.net = t, net
        self.wu, self.bp = g.phase == "wu", g.phase == "bp"
        self.bias = bias and g.phase == "fp"
        k, s, p = L.k, L.s, L.p
        self.need_fill = (k != 1 or s != 1) if self.bp else p != 0
        info = plan.info
        self.R, self.MT, self.nb = info.row_tiles, info.lane_tiles, g.images
        kk = k * k
        wpb, tn, span = t.words_per_beat, c.tn, g.span
        shapes = _shapes(L, g.batch)
        r0, r1, lo, hi = plan.r0, plan.r1, plan.lo, plan.hi
        rr = r1 - r0
        nt = np.arange(info.red_tiles, dtype=_I64)
        red0, red1 = nt * c.tn, np.minimum((nt + 1) * c.tn, g.red)
        mt = np.arange(self.MT, dtype=_I64)
        lane0, lane1 = mt * c.tm, np.minimum((mt + 1) * c.tm, g.lanes)

        def segs(nr: np.ndarray, wpr: np.ndarray, fold_map: bool) -> list[Any]:
            """(segments, beats per segment, words) per element: one DMA command per range; a
            folded map tile in the reshaped layout is one command per pixel (the RTL's rule)."""
            words = nr * wpr
            if fold_map and kind == "reshaped":
                nr = np.where(words > 0, span, 0)
                wpr = np.where(words > 0, words // span, 0)
            beats = -(-wpr // wpb)
            return np.stack([nr, beats, words], axis=-1).tolist()

        fold = g.pg.folded
        self.in_seg = segs(*_fmap_xfer(kind, shapes[g.in_tensor], tn, red0[None, :], red1[None, :],
                                       lo[:, None], hi[:, None], span), fold)  # [rt][nt]
        self.out_seg = segs(*_fmap_xfer(kind, shapes[g.out_tensor], tn, lane0[:, None], lane1[:, None],
                                        r0[None, :], r1[None, :], span), fold)  # [mt][rt]
        if self.bp:  # the weight box is (m = reduction tile, n = lane tile)
            w = _w_xfer(kind, shapes["w"], c.tm, c.tn, red0[None, :], red1[None, :], lane0[:, None],
                        lane1[:, None])
        else:
            w = _w_xfer(kind, shapes["w"], c.tm, c.tn, lane0[:, None], lane1[:, None], red0[None, :],
                        red1[None, :])
        self.w_seg = segs(*w, False)  # [mt][nt]
        self.lanes_valid = (lane1 - lane0).tolist()
        if self.wu:
            dur = kk * rr * g.width + t.wu_fill
        else:
            dur = kk * np.maximum(rr * g.width, t.acc_hazard) + t.fill
        self.dur = dur.tolist()
        self.clear = kk * t.clear_per_position + t.clear_latency
        self.combine = kk * t.combine_per_position + t.combine_latency
        tile_rows = rr + k - 1 if self.bp else (rr - 1) * s + k
        fill_n = tile_rows * g.buf_width
        self.hi_gt_lo = (hi > lo).tolist()
        self.fill_n = fill_n.tolist()
        # terms of bound(): what every chunking costs at least
        steps = self.MT * info.red_tiles * self.nb

        def total(seg: list[Any], shape: tuple[int, int]) -> tuple[int, int]:
            """(beats, DMA commands) of a table of transfers."""
            a = np.asarray(seg, dtype=_I64).reshape(*shape, 3)
            return int((a[..., 0] * a[..., 1]).sum()), int(a[..., 0].sum())

        w_beats, w_cmds = total(self.w_seg, (self.MT, info.red_tiles))
        in_beats, in_cmds = total(self.in_seg, (self.R, info.red_tiles))
        out_beats, out_cmds = total(self.out_seg, (self.MT, self.R))
        self.out_beats, self.out_cmds = self.nb * out_beats, self.nb * out_cmds  # one pass of it all
        # the engine: every command; WU: every dW tile is stored while the engine waits
        self.compute = steps * int(dur.sum())
        if self.wu:
            self.compute += self.MT * info.red_tiles * (self.clear + self.combine) + w_beats
        # the DMA reads (beats, commands): input tiles, weights (FP/BP), bias vectors
        beats, cmds = self.MT * self.nb * in_beats, self.MT * self.nb * in_cmds
        if not self.wu:
            beats, cmds = beats + w_beats, cmds + w_cmds
        if self.bias:
            beats += sum(_cdiv(x, wpb) for x in self.lanes_valid)
            cmds += self.MT
        self.rd_beats, self.rd_cmds = beats, cmds
        # the load port: the beats, the zero fills (and the bias fills)
        self.port = beats + (steps * int(np.maximum(fill_n, 1).sum()) if self.need_fill else 0)
        self.port += self.MT if self.bias else 0
        # the DMA's read table: a command completes at least this many cycles plus its beats
        # after the one read_queue before it (from its AR on: the latency)
        self.rd_cmd = (t.dram_latency + t.response_stage + t.read_done - 1
                       + min(t.table_free, 1 + t.dma_startup))
        self.fixed = t.first_op + t.program_finish + t.host_overhead
        # the first command waits for the data of the first step, which streams through the
        # load port one beat per cycle after the first read's latency
        seg = self.out_seg[0][0] if self.wu else self.w_seg[0][0]  # the dy tile or the weights
        first = seg[0] * seg[1]
        if self.bias:
            first += _cdiv(self.lanes_valid[0], wpb)
        if self.hi_gt_lo[0]:
            first += self.in_seg[0][0][0] * self.in_seg[0][0][1]
        self.head = (1 + t.dma_startup + t.dram_latency + t.response_stage + t.port_delay + first - 1
                     + t.load_retire)
        # FP/BP: the last output tile is stored after the last command
        last = self.out_seg[-1][-1]
        self.tail = 0 if self.wu else _wu_chunk_gap(t) + last[0] * last[1]
        # classes: what a record reads of its lane tile, reduction tile and row tile
        self.mt_cls = [(b - a, a == 0, b == g.lanes)
                       for a, b in zip(lane0.tolist(), lane1.tolist(), strict=True)]
        self.nt_cls = [(b - a, a == 0, b == g.red) for a, b in zip(red0.tolist(), red1.tolist(), strict=True)]
        full_in = (lo == 0) & (hi == g.in_rows)
        self.rt_cls = list(zip(rr.tolist(), (hi - lo).tolist(), full_in.tolist(), (r0 == 0).tolist(),
                               (r1 == g.rows).tolist(), self.fill_n, strict=True))
        self.rt_runs = _runs(self.rt_cls)
        self.mt_runs = _runs(self.mt_cls)
        self.cache: dict[tuple[Any, ...], int] = {}
        self.ids: dict[Any, int] = {}  # small ids of the classes (cheap cache keys)
        self.mt_id = [self.intern(x) for x in self.mt_cls]
        self.rt_id = [self.intern(x) for x in self.rt_cls]
        self.nt_id = [self.intern(x) for x in self.nt_cls]
        self.recs: dict[tuple[Any, ...], int] = {}

    def bound(self, n_chunks: int) -> int:
        """A lower bound of the cycles with ``n_chunks`` chunks per lane tile: after the first
        op, the first step's data, the engine's command cycles and the last store (in WU: the
        engine's idle gaps while each chunk's dW tiles are stored: they wait for its COMBINEs,
        the next CLEAR for them), the load port's cycles (every tile loaded, every zero fill),
        or the DMA's read table's (``read_queue`` commands at a time, each from its AR to its
        completion at least the read latency and its beats)."""
        compute, port = self.compute + self.head + self.tail, self.port
        passes = n_chunks if self.wu else n_chunks - 1  # the dy tiles / partial output tiles back
        port += passes * self.out_beats
        cmds, beats = self.rd_cmds + passes * self.out_cmds, self.rd_beats + passes * self.out_beats
        dma = -(-(cmds * self.rd_cmd + beats) // self.t.read_queue)
        if self.wu:
            compute += self.MT * n_chunks * _wu_chunk_gap(self.t)
        return self.fixed + max(compute, port, dma)

    def intern(self, cls: Any) -> int:
        got = self.ids.get(cls)
        if got is None:
            got = self.ids[cls] = len(self.ids)
        return got


def _runs(keys: Sequence[Any]) -> list[tuple[int, int]]:
    """``(first index, length)`` of the runs of equal consecutive keys."""
    out: list[tuple[int, int]] = []
    for i, x in enumerate(keys):
        if out and keys[out[-1][0]] == x:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def _wu_chunk_gap(t: Timing) -> int:
    """Fewest idle engine cycles between a WU chunk's last COMBINE and the next chunk's first
    CLEAR (or the end), besides the beats of the chunk's dW tiles: the stores wait for the
    COMBINE, the CLEAR for every store."""
    return (1 + t.dma_startup + t.w_delay - 1 + t.write_latency + t.response_stage + t.write_done
            + t.store_retire)


class _Ops:
    """The sequencer of one plan (``rtl/eftrain_layer_seq.sv``): its step records and the nodes
    of its loop nest, over the chunk-independent :class:`_Rows`."""

    def __init__(self, plan: _Plan, rows: _Rows) -> None:
        self.plan, self.rows, self.net = plan, rows, rows.net
        k = plan.g.layer.k
        self.w_double = 2 * plan.info.chunk_tiles * k * k <= plan.cfg.w_buf_depth
        self.chunks = plan.chunks
        self.c_id = [rows.intern((t1 - t0, t0 == 0, tuple(rows.nt_cls[t0:t1]))) for t0, t1 in plan.chunks]
        # per chunk: the runs of equal reduction-tile classes between its first and last tile
        self.mid = [[(t0 + 1 + i - t0, n) for i, n in _runs(rows.nt_id[t0 + 1:t1 - 1])]
                    for t0, t1 in plan.chunks]

    # -- one step ---------------------------------------------------------------------------
    def record(self, mt: int, ci: int, b: int, rt: int, j: int) -> int:
        """Node id of the step record (loop indices of the sequencer)."""
        rw = self.rows
        t0, t1 = self.chunks[ci]
        jn = t1 - t0
        b0, b1 = b == 0, b == rw.nb - 1
        wu_chunk = -1  # WU: the first step has the chunk's CLEARs, the last its COMBINEs, dW stores
        if rw.wu and ((b0 and rt == 0 and j == 0) or (b1 and rt == rw.R - 1 and j == jn - 1)):
            wu_chunk = self.c_id[ci]
        key = (rw.mt_id[mt], rw.nt_id[t0 + j], t0 == 0, j == 0, j == jn - 1, b0, b1, rw.rt_id[rt],
               self.w_double, wu_chunk)
        got = rw.recs.get(key)
        if got is None:
            got = rw.recs[key] = self.net.leaf(*self._build(mt, ci, b, rt, j))
        return got

    def _build(self, mt: int, ci: int, b: int, rt: int, j: int) -> tuple[Any, ...]:
        rw = self.rows
        t0, t1 = self.chunks[ci]
        jn = t1 - t0
        nt = t0 + j
        wu = rw.wu
        first_pass = b == 0 and rt == 0
        chunk_first = first_pass and j == 0
        chunk_last = b == rw.nb - 1 and rt == rw.R - 1 and j == jn - 1
        loads: list[tuple[int, int, int, int]] = []
        rd_words = port = xfers = 0

        def data(seg: list[int], gate: int) -> None:
            nonlocal rd_words, port, xfers
            nseg, beats, words = seg
            if nseg:
                loads.append((_DATA, beats, nseg, gate))
                rd_words += words
                port += nseg * beats
                xfers += 1

        if rw.bias and t0 == 0 and chunk_first:  # zero the bias registers, load the lane tile's
            nbias = rw.lanes_valid[mt]
            loads.append((_BFILL, 1, 1, _G_B))
            port += 1
            data([1, _cdiv(nbias, rw.t.words_per_beat), nbias], _G_B)
        if not wu and first_pass:
            data(rw.w_seg[mt][nt], _G_W2 if self.w_double else _G_W1)
        if j == 0 and (wu or t0 != 0):  # WU: the dy tile; FP/BP: the partial output tile back
            data(rw.out_seg[mt][rt], _G_M2 if wu else _G_RL)
        if rw.need_fill:
            loads.append((_FILL, rw.fill_n[rt], 1, _G_M2))
            port += max(rw.fill_n[rt], 1)
        if rw.hi_gt_lo[rt]:
            data(rw.in_seg[rt][nt], _G_M2)
        cmds: list[tuple[int, int]] = []
        if wu and chunk_first:
            cmds += [(rw.clear, _WS_ALL)] * jn
        cmds.append((rw.dur[rt], _WS_ST2 if (not wu and j == 0) else _WS_NONE))
        if wu and chunk_last:
            cmds += [(rw.combine, _WS_NONE)] * jn
        st: list[tuple[int, int, int]] = []
        wr_words = wbeats = 0
        if not wu and j == jn - 1:
            nseg, beats, words = rw.out_seg[mt][rt]
            st.append((beats, nseg, 1))
            wr_words, wbeats = words, nseg * beats
        if wu and chunk_last:
            for x in range(t0, t1):
                nseg, beats, words = rw.w_seg[mt][x]
                st.append((beats, nseg, 0))
                wr_words += words
                wbeats += nseg * beats
        flags = (_F_CHUNK if chunk_first else 0) | (_F_BIAS if rw.bias and t0 == 0 and j == 0 else 0)
        rec = (tuple(loads), tuple(cmds), tuple(st), flags)
        stats = (sum(d for d, _ in cmds), port, wbeats, rd_words, wr_words, xfers + len(st), 1)
        return rec, stats

    # -- the loop nest as nodes ---------------------------------------------------------------
    def _seq(self, items: Sequence[tuple[int, int]]) -> int:
        """Node of a sequence of ``(node, count)``, consecutive equal nodes merged."""
        runs: list[tuple[int, int]] = []
        for x, n in items:
            if runs and runs[-1][0] == x:
                runs[-1] = (x, runs[-1][1] + n)
            else:
                runs.append((x, n))
        if len(runs) == 1 and runs[0][1] == 1:
            return runs[0][0]
        return self.net.seq(tuple(runs))

    def pass_node(self, mt: int, ci: int, b: int, rt: int) -> int:
        """One row tile of one image: the chunk's reduction tiles (equal middle ones as runs)."""
        rw = self.rows
        key = ("p", rw.mt_id[mt], self.c_id[ci], b == 0, b == rw.nb - 1, rw.rt_id[rt], self.w_double)
        got = rw.cache.get(key)
        if got is None:
            t0, t1 = self.chunks[ci]
            jn = t1 - t0
            items = [(self.record(mt, ci, b, rt, 0), 1)]
            items += [(self.record(mt, ci, b, rt, j), n) for j, n in self.mid[ci]]
            if jn > 1:
                items.append((self.record(mt, ci, b, rt, jn - 1), 1))
            got = rw.cache[key] = self._seq(items)
        return got

    def image_node(self, mt: int, ci: int, b: int) -> int:
        rw = self.rows
        key = ("i", rw.mt_id[mt], self.c_id[ci], b == 0, b == rw.nb - 1, self.w_double)
        got = rw.cache.get(key)
        if got is None:
            got = rw.cache[key] = self._seq([(self.pass_node(mt, ci, b, rt), n) for rt, n in rw.rt_runs])
        return got

    def chunk_node(self, mt: int, ci: int) -> int:
        rw = self.rows
        key = ("c", rw.mt_id[mt], self.c_id[ci], self.w_double)
        got = rw.cache.get(key)
        if got is None:
            nb = rw.nb
            bs = [(0, 1), (1, nb - 2), (nb - 1, 1)] if nb > 2 else [(b, 1) for b in range(nb)]
            got = rw.cache[key] = self._seq([(self.image_node(mt, ci, b), n) for b, n in bs])
        return got

    def layer_node(self) -> int:
        runs = _runs(self.c_id)
        lanes = []
        for mt, n in self.rows.mt_runs:
            lanes.append((self._seq([(self.chunk_node(mt, ci), k) for ci, k in runs]), n))
        return self._seq(lanes)

    def steps(self) -> Iterator[tuple[int, int, int, int, int]]:
        """Loop indices ``(mt, ci, b, rt, j)`` of every step, in order."""
        rw = self.rows
        for mt in range(rw.MT):
            for ci, (t0, t1) in enumerate(self.chunks):
                for b in range(rw.nb):
                    for rt in range(rw.R):
                        for j in range(t1 - t0):
                            yield mt, ci, b, rt, j


# _Net stats: compute cycles, load-port cycles, write beats, words read, words written,
# transfers, steps
_NSTATS = 7


class _Net:
    """Nodes (step records and runs of nodes) and the machine that runs them.

    ``run`` is exact and fast: a node applied to a state it has seen before, up to a shift of
    all its times (the machine is shift-invariant), is looked up; ``count`` repetitions of a
    node are applied one by one until the state repeats up to a shift, then the remaining
    periods are one shift. State groups a node never touches (the write side during steps
    without stores, the chunk and bias marks) stay out of the comparison.
    """

    def __init__(self, t: Timing) -> None:
        self.t = t
        self.lay = _Layout(t)
        self.unit = _make_unit(t, self.lay)
        self.ids: dict[Any, int] = {}
        self.leafs: list[tuple[Any, ...] | None] = []  # record, or None for a sequence
        self.runs: list[tuple[tuple[int, int], ...]] = []
        self.stats: list[tuple[int, ...]] = []
        self.ldmask: list[int] = []  # groups the node's loads touch
        self.csall: list[int] = []  # groups the node's commands and stores touch
        self.csbut: list[int] = []  # ... all but those of its last step
        self.last: list[int] = []  # its last step (a leaf id)
        self.memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def leaf(self, rec: tuple[Any, ...], stats: tuple[int, ...]) -> int:
        got = self.ids.get(rec)
        if got is not None:
            return got
        ld = cs = 0
        for _, _, _, gate in rec[0]:
            ld |= {_G_W1: _M_C, _G_W2: _M_C, _G_B: _M_B, _G_RL: _M_T}.get(gate, 0)
        if rec[3] & _F_CHUNK:
            ld |= _M_C
        if rec[2] or any(ws == _WS_ALL for _, ws in rec[1]):
            cs |= _M_W
        if any(tile for _, _, tile in rec[2]) or any(ws == _WS_ST2 for _, ws in rec[1]):
            cs |= _M_T
        if rec[3] & _F_BIAS:
            cs |= _M_B
        i = len(self.leafs)
        self.ids[rec] = i
        self.leafs.append(rec)
        self.runs.append(())
        self.stats.append(stats)
        self.ldmask.append(ld)
        self.csall.append(cs)
        self.csbut.append(0)
        self.last.append(i)
        return i

    def seq(self, runs: tuple[tuple[int, int], ...]) -> int:
        key = ("s", runs)
        got = self.ids.get(key)
        if got is not None:
            return got
        stats = [0] * _NSTATS
        ld = csall = 0
        for a, n in runs:
            for k, v in enumerate(self.stats[a]):
                stats[k] += n * v
            ld |= self.ldmask[a]
            csall |= self.csall[a]
        csbut = 0
        for a, _ in runs[:-1]:
            csbut |= self.csall[a]
        a, n = runs[-1]
        csbut |= self.csall[a] if n > 1 else self.csbut[a]
        i = len(self.leafs)
        self.ids[key] = i
        self.leafs.append(None)
        self.runs.append(runs)
        self.stats.append(tuple(stats))
        self.ldmask.append(ld)
        self.csall.append(csall)
        self.csbut.append(csbut)
        self.last.append(self.last[a])
        return i

    def _key(self, s: list[int], mask: int) -> tuple[int, ...]:
        """The state's times in the groups of ``mask``, relative to the reference time (dead
        times lifted first, see :class:`_Layout`)."""
        eng = s[self.lay.ENG]
        for i, f in self.lay.floors[mask]:
            if s[i] < eng + f:
                s[i] = eng + f
        vals = self.lay.getters[mask](s)
        return tuple(map(operator.sub, vals, repeat(s[self.lay.REF], len(vals))))

    def apply(self, node: int, s: list[int], pend: int) -> int:
        """Run ``node`` on state ``s`` after step ``pend`` (-1: none); return its last step."""
        rec = self.leafs[node]
        if rec is not None:
            self.unit(s, self.leafs[pend] if pend >= 0 else None, rec)
            return node
        mask = self.ldmask[node] | self.csbut[node] | (self.csall[pend] if pend >= 0 else 0)
        ref = s[self.lay.REF]
        key = (node, pend, self._key(s, mask))
        got = self.memo.get(key)
        if got is None:
            for child, count in self.runs[node]:
                pend = self.run(child, count, s, pend)
            self.memo[key] = tuple(map(operator.sub, self.lay.getters[mask](s), repeat(ref, len(key[2]))))
            return pend
        for i, v in zip(self.lay.masked[mask], got, strict=True):
            s[i] = v + ref
        return self.last[node]

    def run(self, node: int, count: int, s: list[int], pend: int) -> int:
        """``count`` repetitions of ``node``."""
        pend = self.apply(node, s, pend)
        if count == 1:
            return pend
        mask = self.ldmask[node] | self.csall[node]
        refi = self.lay.REF
        seen: dict[tuple[int, ...], tuple[int, int]] = {}
        n = 1
        while n < count:
            key = self._key(s, mask)
            hit = seen.get(key)
            if hit is not None:  # periodic from here: skip whole periods at once
                period, shift = n - hit[0], s[refi] - hit[1]
                q = (count - n) // period
                if q:
                    d = q * shift
                    for i in self.lay.masked[mask]:
                        s[i] += d
                    n += q * period
                while n < count:
                    pend = self.apply(node, s, pend)
                    n += 1
                break
            seen[key] = (n, s[refi])
            pend = self.apply(node, s, pend)
            n += 1
        return pend

    def finish(self, s: list[int], pend: int) -> int:
        """The last step's commands and stores; the CYCLES count of the program."""
        self.unit(s, self.leafs[pend], None)
        t = self.t
        return s[self.lay.S + t.storer_ops - 1] + t.program_finish + t.host_overhead


def _evaluate(plan: _Plan, t: Timing, kind: str, bias: bool, net: _Net | None = None
              ) -> tuple[int, tuple[int, ...]]:
    """(cycles, stats) of a plan, fast (runs of equal nodes repeated in closed form)."""
    net = net if net is not None else _Net(t)
    node = _Ops(plan, _Rows(plan, t, kind, bias, net)).layer_node()
    s = net.lay.initial(t)
    pend = net.apply(node, s, -1)
    return net.finish(s, pend), net.stats[node]


def _resolve(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int, tiling: Tiling | None,
             timing: Timing | None, kind: str, bias: bool) -> tuple[HwConfig, Timing, _Plan]:
    c = preset(cfg)
    _check_batch(batch)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    t = timing if timing is not None else Timing.from_config(c)
    if tiling is None:
        tiling = choose_tiling(layer, phase, c, batch, timing=t, kind=kind, bias=bias)
    return c, t, _plan(layer, phase, c, tiling, batch)


def _result(plan: _Plan, cycles: int, stats: Sequence[int]) -> PhaseResult:
    cfg = plan.cfg
    compute, load, store, rd, wr, nx, steps = (int(v) for v in stats)
    macs = plan.g.layer.phase_macs(plan.g.phase, plan.g.batch)
    return PhaseResult(
        phase=plan.g.phase,
        cycles=cycles,
        compute_cycles=compute,
        load_cycles=load,
        store_cycles=store,
        exposed_dma_cycles=cycles - compute,
        macs=macs,
        utilization=macs / (cfg.tm * cfg.tn * cycles),
        gflops=2.0 * macs * cfg.clock_mhz / (cycles * 1e3),
        dram_bytes_read=rd * _WORD_BYTES,
        dram_bytes_written=wr * _WORD_BYTES,
        transfers=nx,
        steps=steps,
        tiling=plan.info,
    )


# ---------------------------------------------------------------------------------------------
# public model API


def choose_tiling(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1, *,
                  timing: Timing | None = None, kind: str = "reshaped", bias: bool = False) -> Tiling:
    """DSE over :func:`legal_tilings`: the fewest cycles (ties: fewer DRAM bytes, taller row
    tiles, fewer chunks, then the most balanced chunks). The result passes
    :func:`eftrain.tiling.check`; ``ValueError`` if no tiling does. ``bias``: FP with a bias
    (its loads are part of the schedule)."""
    c = preset(cfg)
    t = timing if timing is not None else Timing.from_config(c)
    g = _geom(layer, phase, c, batch)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    # the name does not matter: identical layers (VGG's conv3_2 and conv3_3) share the search
    choice = _choose(replace(layer, name="", input_grad=True), phase, c, batch, t, kind,
                     bool(bias) and phase == "fp")
    if choice is None:
        k, s = layer.k, layer.s
        raise ValueError(
            f"{layer.name or 'layer'} {phase}: no row tile fits the buffers (one output row needs "
            f"{g.width} words of out_buf_depth={c.out_buf_depth}, its input tile "
            f"{g.pg.in_tile_rows(1, k, s)} rows x {g.buf_width} words of in_buf_depth={c.in_buf_depth}, "
            f"one weight tile "
            f"{g.pg.w_chunk_words(1, c.acc_interleave)} words of w_buf_depth={c.w_buf_depth})"
        )
    return choice


@lru_cache(maxsize=1024)
def _choose(layer: ConvLayer, phase: str, c: HwConfig, batch: int, t: Timing, kind: str,
            bias: bool) -> Tiling | None:
    """Every legal tiling, in the order of :meth:`_Rows.bound`; the ones whose bound cannot
    beat the best so far are skipped: the same choice as evaluating them all."""
    net = _Net(t)
    cands = []
    for base in _legal_rows(layer, phase, c, batch):
        rows = _Rows(base, t, kind, bias, net)
        for ct in _chunk_sizes(base):
            nc = _cdiv(base.info.red_tiles, ct)
            cands.append((rows.bound(nc), -base.info.tr, nc, ct, base, rows))
    cands.sort(key=lambda x: x[:4])
    best: tuple[int, int, int, int, int] | None = None
    for bound, ntr, nc, ct, base, rows in cands:
        if best is not None and bound > best[0]:
            break
        node = _Ops(_rechunk(base, ct), rows).layer_node()
        s = net.lay.initial(t)
        cycles = net.finish(s, net.apply(node, s, -1))
        st = net.stats[node]
        score = (cycles, st[3] + st[4], ntr, nc, ct)
        if best is None or score < best:
            best = score
    if best is None:
        return None
    return Tiling(-best[2], best[4])


def model_layer(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1, *,
                tiling: Tiling | None = None, timing: Timing | None = None,
                kind: str = "reshaped", bias: bool = False) -> PhaseResult:
    """Cycles, utilization, GFLOPS and DRAM traffic of one layer phase.

    Args:
        layer: the convolution.
        phase: ``"fp"``, ``"bp"`` or ``"wu"``.
        cfg: hardware (a :class:`HwConfig` or preset name).
        batch: images per batch (weights stay on chip across it).
        tiling: a fixed tiling; ``None`` lets :func:`choose_tiling` pick it.
        timing: timing quantities; ``None`` for :meth:`Timing.from_config`.
        kind: DRAM layout the transfers follow (``"reshaped"``: the RTL; ``"plain"``: the
            same controller with one DMA command per contiguous range of an NCHW layout).
        bias: FP with a bias (the descriptor's BIAS flag: a bias load per lane tile).
    """
    _, t, plan = _resolve(layer, phase, cfg, batch, tiling, timing, kind, bias)
    cycles, stats = _evaluate(plan, t, kind, bias)
    return _result(plan, cycles, stats)


def simulate_phase(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1, *,
                   tiling: Tiling | None = None, timing: Timing | None = None,
                   kind: str = "reshaped", bias: bool = False) -> PhaseResult:
    """Step-by-step reference of :func:`model_layer` (slow; for checking it on small layers)."""
    _, t, plan = _resolve(layer, phase, cfg, batch, tiling, timing, kind, bias)
    net = _Net(t)
    ops = _Ops(plan, _Rows(plan, t, kind, bias, net))
    s = net.lay.initial(t)
    prev: tuple[Any, ...] | None = None
    stats = [0] * _NSTATS
    for idx in ops.steps():
        node = ops.record(*idx)
        rec = net.leafs[node]
        net.unit(s, prev, rec)
        prev = rec
        for k, v in enumerate(net.stats[node]):
            stats[k] += v
    net.unit(s, prev, None)
    cycles = s[net.lay.S + t.storer_ops - 1] + t.program_finish + t.host_overhead
    return _result(plan, cycles, stats)


def _step_transfers(ops: _Ops, mt: int, ci: int, b: int, rt: int, j: int
                    ) -> tuple[list[Transfer], list[Transfer]]:
    """The DMA transfers of one step: its loads (in the loader's order) and its stores."""
    plan = ops.plan
    g, cfg = plan.g, plan.cfg
    t0, t1 = plan.chunks[ci]
    jn = t1 - t0
    nt = t0 + j

    def lanes(x: int) -> tuple[int, int]:
        return x * cfg.tm, min((x + 1) * cfg.tm, g.lanes)

    def red(x: int) -> tuple[int, int]:
        return x * cfg.tn, min((x + 1) * cfg.tn, g.red)

    def wbox(x: int, y: int) -> tuple[int, int, int, int]:
        (a0, a1), (b0, b1) = lanes(x), red(y)
        return (b0, b1, a0, a1) if g.phase == "bp" else (a0, a1, b0, b1)

    span = g.span
    m0, m1 = lanes(mt)
    r0, r1 = int(plan.r0[rt]), int(plan.r1[rt])
    lo, hi = int(plan.lo[rt]), int(plan.hi[rt])
    out_box = (b, m0, m1, r0, r1, 0, g.out_cols)
    loads: list[Transfer] = []
    stores: list[Transfer] = []
    if ops.rows.bias and t0 == 0 and b == 0 and rt == 0 and j == 0:
        loads.append(Transfer("b", "read", (m0, m1)))
    if not ops.rows.wu and b == 0 and rt == 0:
        loads.append(Transfer("w", "read", wbox(mt, nt)))
    if j == 0 and (ops.rows.wu or t0 != 0):
        loads.append(Transfer(g.out_tensor, "read", out_box, span))
    if hi > lo:
        n0, n1 = red(nt)
        loads.append(Transfer(g.in_tensor, "read", (b, n0, n1, lo, hi, 0, g.in_cols), span))
    if not ops.rows.wu and j == jn - 1:
        stores.append(Transfer(g.out_tensor, "write", out_box, span))
    if ops.rows.wu and b == ops.rows.nb - 1 and rt == ops.rows.R - 1 and j == jn - 1:
        stores += [Transfer("dw", "write", wbox(mt, x)) for x in range(t0, t1)]
    return loads, stores


def tile_schedule(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1,
                  tiling: Tiling | None = None, *, bias: bool = False) -> Iterator[Transfer]:
    """The DMA transfers of one layer phase, step by step in the sequencer's order (a step's
    loads, then its stores). ``tiling=None`` uses the DSE choice; ``bias``: FP's bias loads
    (tensor ``"b"``, box ``(m0, m1)``)."""
    _, t, plan = _resolve(layer, phase, cfg, batch, tiling, None, "reshaped", bias)
    ops = _Ops(plan, _Rows(plan, t, "reshaped", bias, _Net(t)))
    for idx in ops.steps():
        loads, stores = _step_transfers(ops, *idx)
        yield from loads
        yield from stores




@dataclass(frozen=True)
class DramTraffic:
    """DRAM traffic of one layer phase in one layout (bus-level, from :mod:`eftrain.golden.layout`).

    Attributes:
        kind: ``"reshaped"`` or ``"plain"``.
        transfers: DMA transfers (tile boxes).
        ranges: contiguous word ranges of all transfers.
        bursts, beats, bytes: AXI4 bursts (<= 256 beats, no 4 KiB crossing), data beats and bus
            bytes (whole beats), reads and writes together.
        read_bursts, write_bursts: the bursts split by direction.
        words: words the boxes cover (padding lanes included in the reshaped layout).
        dma_cycles: DMA cycles if each transfer paid its start-up and read latency
            (``dma_startup + dram_latency + response_stage``) once, serially, plus its beats.
        dma_cycles_per_range: the same if every contiguous range were its own DMA transfer
            (a host-sequenced DMA like the reference's).
    """

    kind: str
    transfers: int
    ranges: int
    bursts: int
    beats: int
    bytes: int
    read_bursts: int
    write_bursts: int
    words: int
    dma_cycles: int
    dma_cycles_per_range: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ranges(layout: Any, item: Transfer) -> list[tuple[int, int]]:
    """The contiguous word ranges of one transfer in ``layout`` (an
    :mod:`eftrain.golden.layout` layout of the transfer's tensor): the box's ranges in each of
    its images, merged where adjacent (a folded map's tile spans the batch)."""
    if item.images == 1:
        return layout.ranges(item.box)
    from eftrain.golden import layout as lay

    b0, *rest = item.box
    return lay.merge_ranges(r for b in range(b0, b0 + item.images) for r in layout.ranges((b, *rest)))


def dram_traffic(layer: ConvLayer, phase: str, cfg: HwConfig | str, batch: int = 1,
                 kind: str = "reshaped", *, tiling: Tiling | None = None,
                 timing: Timing | None = None, bias: bool = False) -> DramTraffic:
    """Bursts, beats and bytes of :func:`tile_schedule` mapped through the ``kind`` layout.

    A transfer's ranges are its box's ranges in each of its images, merged where adjacent (a
    folded map's tile spans the batch: one run per pixel unless the runs touch; the RTL still
    issues one DMA command per pixel). The tiling (default: the DSE choice for the reshaped
    layout) is the same for both layouts, so the two counts compare the layouts on one
    schedule. ``bias``: FP's bias loads (one range of the bias vector per lane tile).
    """
    from eftrain.golden import layout as lay

    c = preset(cfg)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    t = timing if timing is not None else Timing.from_config(c)
    shapes = _shapes(layer, batch)
    layouts: dict[str, Any] = {"b": None}
    for name, shape in shapes.items():
        if name in ("w", "dw"):
            layouts[name] = lay.weight_layout(c, shape, kind)  # type: ignore[arg-type]
        else:
            layouts[name] = lay.fmap_layout(c, shape, kind)  # type: ignore[arg-type]
    memo: dict[tuple[str, tuple[int, ...], int], tuple[int, int, int, int, int, int]] = {}
    totals = [0] * 9  # transfers ranges bursts beats bytes rbursts wbursts words dma_cyc_range
    dma_cycles = 0
    fixed = t.dma_startup + t.dram_latency + t.response_stage
    for item in tile_schedule(layer, phase, c, batch, tiling, bias=bias):
        key = (item.tensor, item.box, item.images)
        got = memo.get(key)
        if got is None:
            if item.tensor == "b":  # the bias vector: word m at word m
                ranges = [(item.box[0], item.box[1] - item.box[0])]
            else:
                ranges = _ranges(layouts[item.tensor], item)
            tc = lay.count_traffic(ranges, c)
            words = sum(n for _, n in ranges)
            beats_words = sum(_cdiv(n, t.words_per_beat) for _, n in ranges)
            got = memo[key] = (len(ranges), tc.bursts, tc.beats, tc.bytes, words, beats_words)
        nr, bursts, beats, nbytes, words, _ = got
        totals[0] += 1
        totals[1] += nr
        totals[2] += bursts
        totals[3] += beats
        totals[4] += nbytes
        totals[5 if item.direction == "read" else 6] += bursts
        totals[7] += words
        totals[8] += nr * fixed + beats
        dma_cycles += fixed + beats
    return DramTraffic(
        kind=kind, transfers=totals[0], ranges=totals[1], bursts=totals[2], beats=totals[3],
        bytes=totals[4], read_bursts=totals[5], write_bursts=totals[6], words=totals[7],
        dma_cycles=dma_cycles, dma_cycles_per_range=totals[8],
    )


# ---------------------------------------------------------------------------------------------
# networks and reports


def _layers(net: str | Sequence[ConvLayer]) -> tuple[str, list[ConvLayer]]:
    if isinstance(net, str):
        return net, get_network(net)
    layers = list(net)
    if not layers or not all(isinstance(x, ConvLayer) for x in layers):
        raise ValueError("net must be a network name or a non-empty sequence of ConvLayer")
    return "custom", layers


def model_network(net: str | Sequence[ConvLayer], cfg: HwConfig | str, batch: int = 1, *,
                  timing: Timing | None = None, kind: str = "reshaped") -> list[LayerResult]:
    """FP, BP and WU of every layer of a network (a name from :func:`network_names` or layers)."""
    _, layers = _layers(net)
    c = preset(cfg)
    out = []
    for layer in layers:
        res = {ph: model_layer(layer, ph, c, batch, timing=timing, kind=kind) for ph in PHASES}
        out.append(LayerResult(layer, res["fp"], res["bp"], res["wu"]))
    return out


def _summary(cfg: HwConfig, items: list[PhaseResult]) -> dict[str, Any]:
    cycles = sum(r.cycles for r in items)
    macs = sum(r.macs for r in items)
    compute = sum(r.compute_cycles for r in items)
    return {
        "cycles": cycles,
        "compute_cycles": compute,
        "exposed_dma_cycles": cycles - compute,
        "macs": macs,
        "utilization": macs / (cfg.tm * cfg.tn * cycles) if cycles else 0.0,
        "gflops": 2.0 * macs * cfg.clock_mhz / (cycles * 1e3) if cycles else 0.0,
        "dram_bytes": sum(r.dram_bytes for r in items),
        "time_ms": cycles / (cfg.clock_mhz * 1e3),
    }


def report(net: str | Sequence[ConvLayer], cfg: HwConfig | str, batch: int = 1, *,
           timing: Timing | None = None, kind: str = "reshaped") -> dict[str, Any]:
    """A JSON-serialisable report of :func:`model_network`.

    ``total`` sums a training iteration: FP and WU of every layer and BP of the layers with
    ``input_grad`` (``total["bp"]`` likewise); ``mean_layer_gflops`` is the arithmetic mean of
    the per-layer GFLOPS over the same phases.
    """
    name, _ = _layers(net)
    c = preset(cfg)
    results = model_network(net, c, batch, timing=timing, kind=kind)
    layers = []
    per_phase: dict[str, list[PhaseResult]] = {ph: [] for ph in PHASES}
    layer_gflops = []
    for r in results:
        d: dict[str, Any] = {"name": r.layer.name}
        d.update({k: getattr(r.layer, k) for k in ("m", "n", "h", "w", "k", "s", "p")})
        d.update({"oh": r.layer.oh, "ow": r.layer.ow, "input_grad": r.layer.input_grad})
        counted = [r.fp, r.wu] + ([r.bp] if r.layer.input_grad else [])
        for ph, pr in r.phases().items():
            d[ph] = pr.to_dict()
        for pr in counted:
            per_phase[pr.phase].append(pr)
        d["iteration"] = _summary(c, counted)
        layer_gflops.append(d["iteration"]["gflops"])
        layers.append(d)
    everything = [pr for ph in PHASES for pr in per_phase[ph]]
    total = _summary(c, everything)
    for ph in PHASES:
        total[ph] = _summary(c, per_phase[ph])
    total["mean_layer_gflops"] = sum(layer_gflops) / len(layer_gflops)
    total["bp_excluded"] = [r.layer.name for r in results if not r.layer.input_grad]
    return {
        "net": name,
        "preset": c.name,
        "tm": c.tm,
        "tn": c.tn,
        "batch": batch,
        "kind": kind,
        "clock_mhz": c.clock_mhz,
        "peak_gflops": c.peak_gflops,
        "layers": layers,
        "total": total,
    }


def format_table(rep: dict[str, Any]) -> str:
    """A fixed-width text table of a :func:`report`: per layer FP/BP/WU cycles, utilization, GFLOPS."""
    head = (f"{rep['net']} on {rep['preset']} ({rep.get('tm', '?')}x{rep.get('tn', '?')}, "
            f"{rep['clock_mhz']:g} MHz, peak {rep['peak_gflops']:.1f} GFLOPS), batch {rep['batch']}")
    cols = f"{'layer':<10} {'M':>5} {'N':>5} {'HxW':>9} {'K/S/P':>6}"
    for ph in PHASES:
        cols += f" | {ph.upper() + ' cycles':>13} {'util':>6} {'GFLOPS':>7}"
    lines = [head, cols, "-" * len(cols)]

    def cells(d: dict[str, Any], mark: str = " ") -> str:
        return f" | {d['cycles']:>12,}{mark} {100 * d['utilization']:>5.1f}% {d['gflops']:>7.2f}"

    for L in rep["layers"]:
        row = (f"{L['name']:<10} {L['m']:>5} {L['n']:>5} {str(L['h']) + 'x' + str(L['w']):>9} "
               f"{str(L['k']) + '/' + str(L['s']) + '/' + str(L['p']):>6}")
        for ph in PHASES:
            row += cells(L[ph], "*" if ph == "bp" and not L.get("input_grad", True) else " ")
        lines.append(row)
    tot = rep["total"]
    lines.append("-" * len(cols))
    row = f"{'total':<10} {'':>5} {'':>5} {'':>9} {'':>6}"
    for ph in PHASES:
        row += cells(tot[ph])
    lines.append(row)
    lines.append(
        f"iteration: {tot['cycles']:,} cycles = {tot['time_ms']:.2f} ms, utilization "
        f"{100 * tot['utilization']:.1f}%, {tot['gflops']:.2f} GFLOPS (mean of layers "
        f"{tot['mean_layer_gflops']:.2f}), DRAM {tot['dram_bytes'] / 2**20:.1f} MiB"
    )
    if tot.get("bp_excluded"):
        lines.append(f"* BP not part of an iteration, not in the totals: {', '.join(tot['bp_excluded'])}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the paper's configuration


def paper_config() -> HwConfig:
    """The ``zcu102`` preset at Tm = Tn = 24 (the paper's scaled design point).

    Per-lane buffer depths shrink so the on-chip memory stays the 16 x 16 build's: input and
    output buffers by 16/24 (lanes grow from 16 to 24), the weight buffer by 256/576.
    """
    base = preset("zcu102")
    return base.with_(
        name="zcu102_24x24",
        tm=24,
        tn=24,
        in_buf_depth=base.in_buf_depth * 16 // 24,
        out_buf_depth=base.out_buf_depth * 16 // 24,
        w_buf_depth=base.w_buf_depth * 256 // 576,
    )


def compute_ceiling(layers: Sequence[ConvLayer], cfg: HwConfig | str, batch: int = 1,
                    phases: Sequence[str] = PHASES) -> float:
    """GFLOPS if every lane tile took only ``K*K * pixels`` cycles (no DMA, no fill, no hazard).

    The channel-quantization bound: lanes beyond a layer's channels do nothing. BP of layers
    without ``input_grad`` is skipped.
    """
    c = preset(cfg)
    macs = cycles = 0
    for L in layers:
        for ph in phases:
            if ph == "bp" and not L.input_grad:
                continue
            pg = _geom(L, ph, c, batch).pg
            macs += L.phase_macs(ph, batch)
            cycles += pg.lane_tiles * pg.red_tiles * pg.kk * pg.rows * pg.width * pg.images
    return 2.0 * macs * c.clock_mhz / (cycles * 1e3)


# ------------------------------------------------------------------------------------------------
# Any descriptor (convolutions: the model above; vector ops: a streaming estimate)
# ------------------------------------------------------------------------------------------------


def vector_cycles(d: Any, cfg: HwConfig | str) -> int:
    """Modelled cycles of one vector-unit descriptor (:mod:`eftrain.golden.vector` ops).

    The model follows the vector unit's structure (``rtl/eftrain_vu_stream.sv``,
    ``rtl/eftrain_vu_pool.sv``): streaming ops read their input tensors at one bus beat per cycle
    (writes overlap), passes per op as documented there; batch norm, bias gradient and global
    pooling pay a per-channel-block (per-plane) overhead of pipeline drains, the partial-sum tree
    and the per-lane scalar steps; windowed pooling overlaps the next plane's load with the
    current plane's computation (``R`` buffer reads per output beat). The constants were fitted
    on the ci preset's RTL (every vector op of the ``make train`` model, measured per descriptor
    with ``Trainer(device="rtl").stats["ops"]``): within 4 % there except MAXPOOL_BP on 4x4 maps
    (-10 %); the per-block terms scale with Tn as the RTL's scalar steps do. Checked on the
    16 x 16 RTL (``eftrain train --preset zcu102 --measure-rtl``): every vector op within 4 %
    (global AVGPOOL_BP after refitting its per-plane term with the zcu102 measurement; BN_BP's
    per-block and SGD's start terms refitted at both presets after the stream unit's fp32 units
    were shared).
    """
    from eftrain.descriptors import Flag, Opcode
    from eftrain.golden.layout import fmap_layout

    c = preset(cfg)
    wpb, tn = c.words_per_beat, c.tn
    beats = lambda words: _cdiv(words, wpb)  # noqa: E731
    op = Opcode(d.opcode)
    if op == Opcode.SGD:
        return sgd_cycles(d.count, c)
    blocks = _cdiv(d.n, tn)
    planes = d.batch * blocks
    x = beats(fmap_layout(c, (d.batch, d.n, d.h, d.w)).size)
    lanes = 11 + tn                       # one scalar step: TN lanes through a shared unit
    if op == Opcode.RELU_BP:
        return 2 * x + 228
    if op == Opcode.BN_FP:
        return 3 * x + 240 + blocks * (15 * lanes + 6)
    if op == Opcode.BN_BP:
        return 4 * x + 237 + blocks * (3 * lanes + 38 + 3 * tn)
    if op == Opcode.BIAS_GRAD:
        return x + 387 + blocks * (104 + 4 * (tn - 4))
    pix_beats = tn // wpb
    if d.flags & Flag.GLOBAL:             # global pooling, one plane per (image, channel block)
        plane = d.h * d.w * pix_beats
        if op == Opcode.AVGPOOL_FP:
            return planes * (plane + 45 + 2 * tn) + 240
        return planes * (plane + 33 + (5 * tn) // 4) + 240   # ci 38, zcu102 53 per plane (measured)
    out_beats = d.oh * d.ow * pix_beats
    in_beats = d.h * d.w * pix_beats
    if op in (Opcode.MAXPOOL_FP, Opcode.AVGPOOL_FP):
        per_plane = max(in_beats, d.k * d.k * out_beats)
    else:
        loads = (2 if op == Opcode.MAXPOOL_BP else 1) * out_beats
        per_plane = max(loads, _cdiv(d.k, d.stride) ** 2 * in_beats)
    return planes * (per_plane + 4) + 283


def descriptor_cycles(d: Any, cfg: HwConfig | str) -> int:
    """Modelled cycles of one descriptor: :func:`model_layer` at the descriptor's tiling for
    convolutions and fully connected layers, :func:`vector_cycles` for the vector ops."""
    from eftrain.descriptors import CONV_OPCODES, Flag

    if d.opcode not in CONV_OPCODES:
        return vector_cycles(d, cfg)
    layer = ConvLayer("", m=d.m, n=d.n, h=d.h, w=d.w, k=d.k, s=d.stride, p=d.pad)
    cycles = model_layer(layer, d.phase, cfg, d.batch, tiling=Tiling(d.tr, d.chunk),
                         bias=bool(d.flags & Flag.BIAS)).cycles
    if d.flags & Flag.SGD:
        cycles += fused_sgd_extra_cycles(d, cfg)
    return cycles


def fused_sgd_extra_cycles(d: Any, cfg: HwConfig | str) -> int:
    """What SGD fused into WU's write-back (``Flag.SGD``) adds to the WU: the whole update is one
    SGD op of the vector unit, fed by the storer's dW tiles (``K*K*Tm*Tn`` words each) as they
    leave the engine at the end of each weight chunk, reading v and w beside the loader. A
    chunk's store burst enters the unit's 128-beat input FIFO at the storer's rate; the beats
    beyond that wait for the unit's read-limited rate (one gradient beat per two read beats), so
    the engine waits about one cycle each for its weight buffer; the layer ends one pipeline and
    write latency after the last store; a folded (FC) layer's loader also takes turns on the read
    side with the SGD's reads. Fitted on the RTL: ci (the four WU layers of the ``make train``
    model, a 32x32 3x3 conv, a 64x96 FC at batch 4) and zcu102 (the same conv and FC): within
    -5.2 % .. +1.1 % of the measured fused WU (``docs/training.md``). Not modelled: when the SGD's
    reads outlast the WU's own compute (small maps, large tiles) the unit falls behind across
    chunks (the -5.2 %: zcu102 3x3 conv on an 8x8 map at batch 1)."""
    c = preset(cfg)
    tiles_m, tiles_n = _cdiv(d.m, c.tm), _cdiv(d.n, c.tn)
    beats = _cdiv(d.k * d.k * c.tm * c.tn, c.words_per_beat)
    chunk = max(1, min(d.chunk or tiles_n, tiles_n))
    full, rest = divmod(tiles_n, chunk)
    per_mt = full * max(0, chunk * beats - 128) + (max(0, rest * beats - 128) if rest else 0)
    extra = 150 + tiles_m * per_mt
    if (d.h, d.w, d.k, d.stride, d.pad) == (1, 1, 1, 1, 0):
        # folded (FC): the loader issues one small command per pixel; the SGD's v and w reads
        # take turns with them on the read side, about one cycle per weight beat
        extra += tiles_m * tiles_n * beats
    return extra


def sgd_cycles(words: int, cfg: HwConfig | str) -> int:
    """Modelled cycles of one SGD descriptor over ``words`` words (:func:`vector_cycles`)."""
    c = preset(cfg)
    n = _cdiv(words, c.words_per_beat)
    return 3 * n + 162 + 2 * min(n, 40) + n // 50
