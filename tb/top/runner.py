"""Run descriptor programs on the whole accelerator (``rtl/eftrain_top.sv``) in Verilator, fast mode.

The harness ``tb/top/top_fast_tb.sv`` puts the behavioural AXI memory ``axi_mem_model.sv`` behind
the AXI master and an AXI4-Lite script player in front of the registers, so a program runs
without any Python per cycle: this module writes the memory image (``$readmemh``) and the host
script, the cocotb test :func:`top_fast_run` only starts the clock, releases reset and waits for
``finished``, and this module reads back the results, the counters and the memory.

Host script (what a driver on the board does, :mod:`eftrain.csr` names): write WINDOW_*,
PROG_BASE_*, PROG_COUNT, IRQ_ENABLE (DONE and ERROR), CTRL (CLEAR_COUNTERS | START); wait for the
interrupt; read STATUS, ERR_CODE and every 64-bit counter (LO, then HI); clear IRQ_STATUS.

Knobs (:class:`Knobs`): DRAM read latency, write-response latency, random stall percentage on
every AXI channel, seed, fault region. ``run_program`` returns a :class:`TopResult`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
MEM_BASE = 0x1000_0000
MEM_BYTES = 32 << 20          # the model's memory: [MEM_BASE, MEM_BASE + 32 MiB)
COUNTERS = ("CYCLES", "BUSY_CYCLES", "MAC_CYCLES", "AXI_RD_BEATS", "AXI_WR_BEATS", "AXI_RD_BURSTS",
            "AXI_WR_BURSTS", "STALL_CYCLES")


@dataclass(frozen=True)
class Knobs:
    """DRAM model behaviour (see tb/top/axi_mem_model.sv)."""

    rd_lat: int = 40
    wr_lat: int = 8
    stall: int = 0          # percent of cycles each AXI channel is paused at random
    seed: int = 1
    fault: tuple[int, int, int] | None = None   # (lo, hi, resp) byte range answering SLVERR/DECERR


@dataclass
class TopResult:
    """What a program run left behind."""

    finished: bool              # the script ran to its end (False: timed out)
    status: dict[str, int]      # STATUS fields
    err_code: int
    err_index: int
    counters: dict[str, int]
    cycles: int                 # cycles from reset release to the end of the script
    irq_cycle: int              # cycle at which the interrupt was seen
    mem_base: int
    mem: np.ndarray             # uint32 words of [mem_base, mem_base + 4*len)
    extra_reads: list[int] = field(default_factory=list)
    sim_seconds: float = 0.0    # wall time of the simulated run proper (reset release to finished)
    run_seconds: float = 0.0    # wall time of run_programs (files, simulator start-up, run, read-back)

    def words(self, addr: int, count: int) -> np.ndarray:
        lo = (addr - self.mem_base) // 4
        if addr % 4 or lo < 0 or lo + count > self.mem.size:
            raise ValueError(f"[{addr:#x}, +{4 * count}) is outside the dumped memory")
        return self.mem[lo:lo + count]


def _sim() -> Any:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tb.common import sim
    return sim


def top_parameters(cfg: Any) -> dict[str, int]:
    from eftrain.config import preset

    return preset(cfg).top_parameters()


def build_model(cfg: Any, waves: bool | None = None) -> Any:
    """Build (or reuse) the fast-mode model of a preset: build/<preset>/top_fast/."""
    from eftrain.config import preset

    c = preset(cfg)
    sim = _sim()
    params = top_parameters(c)
    beats = MEM_BYTES // (4 * params["WPB"])
    params.update(MEM_BEATS=beats, MEM_BASE=MEM_BASE)
    return sim.build(
        toplevel="top_fast_tb",
        sources=[*sim.top_sources(), HERE / "axi_mem_model.sv", HERE / "top_fast_tb.sv"],
        tag=c.name,
        unit="top_fast",
        parameters=params,
        build_args=["-O3", "-Wno-fatal"],
        waves=waves,
    )


# ------------------------------------------------------------------------------------------------
# Host script and memory image.

OP_END, OP_WRITE, OP_READ, OP_WAIT_IRQ, OP_IDLE = 0, 1, 2, 3, 4


def _rec(op: int, addr: int = 0, data: int = 0) -> str:
    return f"{(op << 60) | ((addr & 0xFFF) << 32) | (data & 0xFFFFFFFF):016x}"


def host_script(programs: Sequence[tuple[int, int]], window: tuple[int, int], *,
                extra: Sequence[tuple[int, int, int]] = ()) -> tuple[list[str], list[list[str]]]:
    """The register accesses of a run of ``programs`` (base, count), one after another.

    Returns the script lines and, per program, the names of the registers read after it
    (STATUS, ERR_CODE, every counter as _LO/_HI). ``extra`` records go after the set-up of the
    first program and before its START (raw (op, addr, data) host records).
    """
    from eftrain import csr

    off = csr.word_offsets()
    lines: list[str] = []
    reads: list[list[str]] = []

    def wr(name: str, value: int) -> None:
        lines.append(_rec(OP_WRITE, off[name], value))

    def rd(name: str) -> None:
        lines.append(_rec(OP_READ, off[name]))
        reads[-1].append(name)

    wr("WINDOW_BASE_LO", window[0] & 0xFFFFFFFF)
    wr("WINDOW_BASE_HI", window[0] >> 32)
    wr("WINDOW_LIMIT_LO", window[1] & 0xFFFFFFFF)
    wr("WINDOW_LIMIT_HI", window[1] >> 32)
    wr("IRQ_ENABLE", csr.encode("IRQ_ENABLE", DONE=1, ERROR=1))
    for i, (base, count) in enumerate(programs):
        reads.append([])
        wr("PROG_BASE_LO", base & 0xFFFFFFFF)
        wr("PROG_BASE_HI", base >> 32)
        wr("PROG_COUNT", count)
        if i == 0:
            lines.extend(_rec(op, addr, data) for op, addr, data in extra)
        wr("CTRL", csr.encode("CTRL", CLEAR_COUNTERS=1, START=1))
        lines.append(_rec(OP_WAIT_IRQ))
        rd("STATUS")
        rd("ERR_CODE")
        for name in COUNTERS:
            rd(f"{name}_LO")
            rd(f"{name}_HI")
        wr("IRQ_STATUS", csr.encode("IRQ_STATUS", DONE=1, ERROR=1))
    lines.append(_rec(OP_END))
    return lines, reads


def memory_image(regions: Sequence[tuple[int, np.ndarray]], wpb: int) -> str:
    """$readmemh text of beat-aligned regions (byte address, uint32 words), beat-indexed."""
    beat = 4 * wpb
    out: list[str] = []
    for addr, words in regions:
        if addr % beat:
            raise ValueError(f"region at {addr:#x} is not beat-aligned")
        if addr < MEM_BASE or addr + 4 * words.size > MEM_BASE + MEM_BYTES:
            raise ValueError(f"region [{addr:#x}, +{4 * words.size}) is outside the model memory")
        w = np.zeros(-(-words.size // wpb) * wpb, np.uint32)
        w[:words.size] = words
        beats = w.reshape(-1, wpb)[:, ::-1]   # word wpb-1 is the most significant
        text = beats.astype(">u4").tobytes().hex()
        width = 8 * wpb
        out.append(f"@{(addr - MEM_BASE) // beat:x}")
        out.extend(text[i:i + width] for i in range(0, len(text), width))
    return "\n".join(out) + "\n"


def _read_dump(path: Path, wpb: int, beats: int) -> np.ndarray:
    mem = np.zeros((beats, wpb), np.uint32)
    i = 0
    for line in path.read_text().split():
        if line.startswith("@"):
            i = int(line[1:], 16)
            continue
        if line.startswith("//"):
            continue
        v = int(line, 16)
        mem[i] = [(v >> (32 * k)) & 0xFFFFFFFF for k in range(wpb)]
        i += 1
    return mem.reshape(-1)


# ------------------------------------------------------------------------------------------------
# Simulator side.

@cocotb.test()
async def top_fast_run(dut: Any) -> None:
    """Clock, reset, wait for the host script to finish (everything else happens in the HDL)."""
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, RisingEdge

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 5)
    dut.rst_n.value = 1
    t0 = time.perf_counter()
    await RisingEdge(dut.finished)
    # Wall time of the run proper (no Python ran per cycle in it): for the simulation-speed figures.
    Path("sim_seconds.txt").write_text(f"{time.perf_counter() - t0:.6f}\n")
    await ClockCycles(dut.clk, 2)


@dataclass
class ProgramResult:
    """Registers read after one program stopped."""

    status: dict[str, int]
    err_code: int
    err_index: int
    counters: dict[str, int]


def run_programs(cfg: Any, regions: Sequence[tuple[int, np.ndarray]],
                 programs: Sequence[tuple[int, int]], window: tuple[int, int], *,
                 dump: tuple[int, int] | None = None, knobs: Knobs = Knobs(),
                 max_cycles: int = 50_000_000, name: str | None = None, waves: bool | None = None,
                 extra: Sequence[tuple[int, int, int]] = ()) -> tuple[TopResult, list[ProgramResult]]:
    """Load ``regions`` into the model's DRAM, run ``programs`` one after another.

    Returns the run (memory after the last program, ``dump`` byte range: default from the lowest
    to the highest region end) and each program's registers. A program that did not stop within
    ``max_cycles`` cycles of the whole run leaves ``TopResult.finished`` False.
    """
    from eftrain import csr
    from eftrain.config import preset

    c = preset(cfg)
    wpb = c.words_per_beat
    sim = _sim()
    model = build_model(c, waves)
    t_start = time.perf_counter()
    work = sim.run_dir(model, name)
    lines, reads = host_script(programs, window, extra=extra)
    (work / "host.hex").write_text("\n".join(lines) + "\n")
    (work / "mem_in.hex").write_text(memory_image(regions, wpb))
    for f in ("host_out.hex", "mem_out.hex", "sim_seconds.txt"):
        (work / f).unlink(missing_ok=True)
    if dump is None:
        lo = min(a for a, _ in regions)
        hi = max(a + 4 * w.size for a, w in regions)
        dump = (lo, hi)
    beat = 4 * wpb
    d_lo = (dump[0] - MEM_BASE) // beat
    d_hi = -(-(dump[1] - MEM_BASE) // beat)
    plus = [f"+host_in={work / 'host.hex'}", f"+host_out={work / 'host_out.hex'}",
            f"+mem_in={work / 'mem_in.hex'}", f"+mem_out={work / 'mem_out.hex'}",
            f"+dump_lo={d_lo}", f"+dump_hi={d_hi}", f"+max_cycles={max_cycles}",
            f"+rd_lat={knobs.rd_lat}", f"+wr_lat={knobs.wr_lat}", f"+stall={knobs.stall}",
            f"+seed={knobs.seed}"]
    if knobs.fault is not None:
        plus += [f"+fault_lo={knobs.fault[0]}", f"+fault_hi={knobs.fault[1]}",
                 f"+fault_resp={knobs.fault[2]}"]
    sim.run(model, test_module="tb.top.runner", testcase="top_fast_run", directory=work,
            plusargs=plus)
    res = [int(t, 16) for t in (work / "host_out.hex").read_text().split()
           if not t.startswith(("@", "//"))]
    values = res[5:]
    per: list[ProgramResult] = []
    for names in reads:
        if len(values) < len(names):
            break                       # timed out before this program's reads
        got = dict(zip(names, values[:len(names)], strict=True))
        values = values[len(names):]
        err = csr.decode("ERR_CODE", got["ERR_CODE"])
        per.append(ProgramResult(
            status=csr.decode("STATUS", got["STATUS"]), err_code=err["CODE"], err_index=err["INDEX"],
            counters={n: got[f"{n}_LO"] | (got[f"{n}_HI"] << 32) for n in COUNTERS}))
    mem = _read_dump(work / "mem_out.hex", wpb, d_hi - d_lo)
    last = per[-1] if per else ProgramResult({}, 0, 0, {})
    top = TopResult(finished=res[0] == 0, status=last.status, err_code=last.err_code,
                    err_index=last.err_index, counters=last.counters, cycles=res[1], irq_cycle=res[4],
                    mem_base=MEM_BASE + d_lo * beat, mem=mem,
                    sim_seconds=float((work / "sim_seconds.txt").read_text()),
                    run_seconds=time.perf_counter() - t_start)
    return top, per


def run_program(cfg: Any, regions: Sequence[tuple[int, np.ndarray]], prog_base: int, prog_count: int,
                window: tuple[int, int], **kw: Any) -> TopResult:
    """:func:`run_programs` with one program; the TopResult carries its registers."""
    top, _ = run_programs(cfg, regions, [(prog_base, prog_count)], window, **kw)
    return top


def run_layer(cfg: Any, lp: Any, *, knobs: Knobs = Knobs(), name: str | None = None,
              waves: bool | None = None) -> tuple[np.ndarray, TopResult]:
    """Run an :class:`eftrain.program.LayerProgram`; returns (result array, TopResult)."""
    plan = lp.plan
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    res = run_program(cfg, regions, lp.prog_addr, len(lp.descriptors), (plan.base, plan.limit),
                      knobs=knobs, name=name, waves=waves)
    out = plan.regions[lp.output]
    return lp.decode(res.words(out.addr, out.data.size)), res

