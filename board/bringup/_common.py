"""What every bring-up step shares: options, the driver (board or simulation), PASS/FAIL.

A step is a script ``NN_name.py`` with a function ``step(drv, args) -> Outcome`` and a call to
:func:`main`. :func:`main` parses the options, makes the driver and prints the outcome:

* on the board (default): ``PynqIO`` (pynq ``Overlay``/``MMIO``/``allocate``/``Interrupt``),
  bitstream ``--bitstream`` or ``$EFTRAIN_BITSTREAM`` or ``build/zcu102/bitstream/eftrain.bit``,
  preset ``zcu102``;
* ``--sim``: the same step runs inside a Verilator simulation of ``rtl/eftrain_top.sv``
  (``tb/board/sim_io.py``: cocotb, AXI4-Lite, a DRAM model), preset ``ci`` unless ``--preset``.

The last lines are ``PASS <step>: ...`` or ``FAIL <step>: ...`` and ``next: ...`` (what to run
or check next); the exit status is 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

__all__ = ["Outcome", "main", "sim_entry"]

STEPS = ("01_id", "02_dma_loopback", "03_layers", "04_train_iteration", "05_error_path")


@dataclass
class Outcome:
    """A step's verdict: ``ok``, a one-line summary, what to do next, the report lines."""

    ok: bool
    summary: str
    next: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "next": self.next, "lines": self.lines,
                "data": self.data}


def next_step(name: str, sim: bool) -> str:
    """The command of the step after ``name``."""
    i = STEPS.index(name)
    if i + 1 == len(STEPS):
        return "bring-up complete: train with eftrain.Device('board')"
    return f"python board/bringup/{STEPS[i + 1]}.py" + (" --sim" if sim else "")


def _parser(name: str, doc: str,
            add_args: Callable[[argparse.ArgumentParser], None] | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{name}.py", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", action="store_true",
                   help="run against the Verilator simulation of eftrain_top instead of the board")
    p.add_argument("--preset", default=None,
                   help="hardware preset of the bitstream / simulation "
                        "(default: zcu102 on the board, ci with --sim)")
    p.add_argument("--bitstream", default=None,
                   help="overlay .bit (its .hwh beside it); default $EFTRAIN_BITSTREAM or "
                        "build/zcu102/bitstream/eftrain.bit")
    p.add_argument("--no-download", action="store_true", help="the overlay is already loaded")
    p.add_argument("--seed", type=int, default=1, help="random seed of the test data")
    if add_args is not None:
        add_args(p)
    return p


def _print(name: str, where: str, out: dict[str, Any]) -> int:
    print(f"EF-Train bring-up {name} ({where})")
    for line in out["lines"]:
        print(f"  {line}")
    print(f"{'PASS' if out['ok'] else 'FAIL'} {name}: {out['summary']}")
    print(f"next: {out['next']}")
    sys.stdout.flush()
    return 0 if out["ok"] else 1


def _run_step(step: Callable[[Any, argparse.Namespace], Outcome], name: str, drv_factory: Callable[[], Any],
              args: argparse.Namespace) -> dict[str, Any]:
    try:
        drv = drv_factory()
        return step(drv, args).to_dict()
    except Exception as exc:  # a step that crashes is a FAIL with the reason, not a traceback only
        return {"ok": False, "summary": f"{type(exc).__name__}: {exc}",
                "next": "fix the cause above and run this step again",
                "lines": traceback.format_exc().rstrip().splitlines(), "data": {}}


def sim_entry(io: Any, script: str, args: dict[str, Any], preset: str) -> dict[str, Any]:
    """Inside the simulation (``tb.board.sim_io.board_session``): run ``script``'s step on ``io``."""
    from board.pynq.driver import EftrainDriver
    from tb.board.sim_io import load_target

    step = load_target(f"{script}:step")
    name = Path(script).stem
    return _run_step(step, name, lambda: EftrainDriver(io, preset, check=False), argparse.Namespace(**args))


def main(script: str, step: Callable[[Any, argparse.Namespace], Outcome], doc: str,
         add_args: Callable[[argparse.ArgumentParser], None] | None = None,
         argv: list[str] | None = None) -> int:
    """Parse the options, run ``step`` on the board or in the simulation, print, return the status."""
    name = Path(script).stem
    args = _parser(name, doc, add_args).parse_args(argv)
    if args.preset is None:
        args.preset = "ci" if args.sim else "zcu102"
    if args.sim:
        from tb.board.sim_io import SessionError, run_session

        where = f"simulation: rtl/eftrain_top.sv at preset {args.preset}"
        t0 = time.perf_counter()
        try:
            out = run_session("board.bringup._common:sim_entry",
                              {"script": str(Path(script).resolve()), "args": vars(args),
                               "preset": args.preset},
                              preset=args.preset, name=f"bringup-{name}-{os.getpid()}",
                              keep=False)
        except (SessionError, OSError, ValueError) as exc:   # the simulation itself failed
            out = {"ok": False, "summary": f"the simulation failed: {exc}",
                   "next": "see the simulator log named above", "lines": [], "data": {}}
        out["lines"].append(f"(simulation wall time {time.perf_counter() - t0:.1f} s)")
        return _print(name, where, out)

    def board_driver() -> Any:
        from board.pynq.driver import EftrainDriver
        from board.pynq.pynq_io import PynqIO, default_bitstream

        io = PynqIO(args.bitstream or default_bitstream(), download=not args.no_download)
        return EftrainDriver(io, args.preset, check=False)

    where = f"board, preset {args.preset}"
    return _print(name, where, _run_step(step, name, board_driver, args))


def bits_differ(got: Any, want: Any) -> int:
    """Elements of two float32 arrays whose bits differ (NaN equals NaN)."""
    import numpy as np

    g = np.asarray(got, np.float32).ravel()
    w = np.asarray(want, np.float32).ravel()
    if g.shape != w.shape:
        return max(g.size, w.size)
    same = (g.view(np.uint32) == w.view(np.uint32)) | (np.isnan(g) & np.isnan(w))
    return int(g.size - np.count_nonzero(same))


def phase_figures(cfg: Any, macs: int, cycles: int) -> str:
    """``cycles, utilization, GFLOPS at the preset clock`` as one table cell."""
    util = macs / (cfg.tm * cfg.tn * cycles) if cycles else 0.0
    gflops = 2 * macs / (cycles / (cfg.clock_mhz * 1e6)) / 1e9 if cycles else 0.0
    return f"{cycles:>10,} cycles  {100 * util:5.1f}% util  {gflops:6.2f} GFLOPS@{cfg.clock_mhz:g}MHz"
