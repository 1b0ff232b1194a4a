"""The simulation implementation of the board interface: the PYNQ driver against the RTL.

:class:`SimIO` is :class:`board.pynq.driver.BoardIO` on a Verilated ``rtl/eftrain_top.sv`` in
cocotb mode: registers through a cocotbext-axi ``AxiLiteMaster`` on ``s_axil_*``, DMA memory in
the DRAM model :class:`tb.common.dram.Dram` on ``m_axi_*``, the interrupt is the ``irq`` port.

The driver is synchronous code. It runs in a thread started with ``cocotb.task.bridge``; each
``read32``/``write32``/``wait_irq`` call goes through ``cocotb.task.resume`` back into the
scheduler, where it becomes an AXI4-Lite transaction (or a wait on ``irq``) in simulated time,
while the thread blocks. Nothing else runs in parallel with the simulation. ``alloc`` hands out
DRAM-model addresses (4 KiB aligned, from :data:`ARENA_BASE`, the ZCU102's upper DDR, so the
40-bit addresses are exercised); ``sync_to_device``/``sync_from_device`` copy between the host
array and the model (instantly: there is no cache to maintain). ``wait_irq(timeout)`` counts
``timeout`` in simulated seconds (accelerator time, as on the board).

Running driver code in the simulation (pytest side, or the bring-up scripts' ``--sim``)::

    from tb.board.sim_io import run_session
    value = run_session("tb.board.scenarios:layer", {"phase": "fp"}, preset="ci")

builds ``eftrain_top`` for the preset once (``build/<preset>/board_sim/model``), starts the
simulator with the cocotb test :func:`board_session`, which makes the clock, the reset, a
:class:`SimIO`, and calls ``target(io, **kwargs)`` in a bridge thread. The target returns
JSON-able data; an exception in it becomes :class:`SessionError` here, with its traceback.
``target`` is ``"module:function"`` or ``"path/to/file.py:function"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
ARENA_BASE = 0x8_0000_0000       # ZCU102: DDR above 32 GiB (HP0_DDR_HIGH)
CLK_NS = 10
ENV = "EFTRAIN_BOARD_SESSION"

__all__ = ["ARENA_BASE", "SessionError", "SimIO", "board_session", "build_model", "load_target",
           "run_session"]


class SessionError(AssertionError):
    """The driver code raised inside the simulation (message: its type, text and traceback)."""


# ------------------------------------------------------------------------------------------------
# Simulator side.

class SimIO:
    """:class:`board.pynq.driver.BoardIO` over the simulated accelerator (make it in a cocotb test)."""

    def __init__(self, dut: Any, cfg: Any, *, latency: int | None = None, base: int = ARENA_BASE) -> None:
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        from tb.common.dram import Dram

        self.dut = dut
        self.cfg = cfg
        self.dram = Dram(dut, dut.clk, 40, latency=cfg.dram_latency if latency is None else latency,
                         clk_ns=CLK_NS)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                                  reset_active_level=False)
        self.axil.write_if.log.setLevel(logging.WARNING)
        self.axil.read_if.log.setLevel(logging.WARNING)
        self._next = base
        self.allocated: list[Any] = []
        self.accesses = 0

    async def reset(self) -> None:
        from cocotb.triggers import ClockCycles

        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 8)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 4)

    # coroutines (scheduler thread)
    async def _read32(self, offset: int) -> int:
        rsp = await self.axil.read(offset, 4)
        if int(rsp.resp) != 0:
            raise OSError(f"AXI4-Lite read of {offset:#05x} answered {rsp.resp!r}")
        return int.from_bytes(rsp.data, "little")

    async def _write32(self, offset: int, value: int) -> None:
        rsp = await self.axil.write(offset, int(value).to_bytes(4, "little"))
        if int(rsp.resp) != 0:
            raise OSError(f"AXI4-Lite write of {offset:#05x} answered {rsp.resp!r}")

    async def _wait_irq(self, timeout: float) -> bool:
        from cocotb.triggers import RisingEdge, SimTimeoutError, with_timeout

        if int(self.dut.irq.value):
            return True
        ns = max(1, round(timeout * 1e9))
        try:
            await with_timeout(RisingEdge(self.dut.irq), ns, "ns")
        except SimTimeoutError:
            return bool(int(self.dut.irq.value))
        return True

    # the BoardIO interface (bridge thread)
    def read32(self, offset: int) -> int:
        from cocotb.task import resume

        self.accesses += 1
        return resume(self._read32)(offset)

    def write32(self, offset: int, value: int) -> None:
        from cocotb.task import resume

        self.accesses += 1
        resume(self._write32)(offset, value)

    def wait_irq(self, timeout: float) -> bool:
        from cocotb.task import resume

        return resume(self._wait_irq)(timeout)

    def alloc(self, nbytes: int) -> Any:
        from board.pynq.driver import DmaBuffer

        addr = self._next
        size = -(-int(nbytes) // 4096) * 4096
        self._next += size
        buf = DmaBuffer(physical_address=addr, words=np.zeros(size // 4, np.uint32))
        self.allocated.append(buf)
        return buf

    def free(self, buf: Any) -> None:
        self.allocated = [b for b in self.allocated if b is not buf]

    def sync_to_device(self, buf: Any) -> None:
        self.dram.write(buf.physical_address, np.ascontiguousarray(buf.words, "<u4").tobytes())

    def sync_from_device(self, buf: Any) -> None:
        buf.words[:] = self.dram.array(buf.physical_address, buf.words.size)


def load_target(spec: str) -> Callable[..., Any]:
    """``"module:function"`` or ``"path/to/file.py:function"`` -> the function."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise ValueError(f"target must be 'module:function' or 'file.py:function', got {spec!r}")
    if where.endswith(".py"):
        path = Path(where)
        mod_name = "_eftrain_target_" + path.stem.replace("-", "_")
        s = importlib.util.spec_from_file_location(mod_name, path)
        if s is None or s.loader is None:
            raise ValueError(f"cannot load {path}")
        module = importlib.util.module_from_spec(s)
        sys.modules[mod_name] = module
        s.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    return getattr(module, name)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-able")


@cocotb.test()
async def board_session(dut: Any) -> None:
    """Clock, reset, a :class:`SimIO`; the session's target runs in a bridge thread."""
    from cocotb.clock import Clock
    from cocotb.task import bridge

    from eftrain.config import preset

    spec = json.loads(os.environ[ENV])
    cfg = preset(spec["preset"])
    Clock(dut.clk, CLK_NS, unit="ns").start()
    io = SimIO(dut, cfg)
    await io.reset()
    fn = load_target(spec["target"])

    def body() -> dict[str, Any]:
        try:
            return {"ok": True, "value": fn(io, **spec["kwargs"])}
        except Exception as exc:  # reported to the pytest side, which raises SessionError
            return {"ok": False, "type": type(exc).__name__, "message": str(exc),
                    "traceback": traceback.format_exc()}

    out = await bridge(body)()
    Path(spec["result"]).write_text(json.dumps(out, default=_jsonable))


# ------------------------------------------------------------------------------------------------
# pytest / command-line side.

def top_sources() -> list[Path]:
    """eftrain_top's RTL in compile order (ci/rtl_check.py's list, SystemVerilog files only)."""
    from tb.common import sim

    return sim.top_sources()


def build_model(preset_name: str = "ci") -> Any:
    """Verilate ``eftrain_top`` for a preset: ``build/<preset>/board_sim/model``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from eftrain.config import preset
    from tb.common import sim

    c = preset(preset_name)
    problem = c.top_level_problem()
    if problem is not None:
        raise ValueError(problem)
    params = c.top_parameters()
    return sim.build(toplevel="eftrain_top", sources=top_sources(), tag=c.name, unit="board_sim",
                     parameters=params, build_args=["-O3"])


def run_session(target: str, kwargs: Mapping[str, Any] | None = None, *, preset: str = "ci",
                name: str | None = None, log: bool = True, keep: bool = True) -> Any:
    """Run ``target(io, **kwargs)`` against the simulated accelerator; returns its value.

    ``name`` names the run directory (``build/<preset>/board_sim/<name>``; default: the current
    pytest test). With ``log`` the simulator's output goes to ``sim.log`` there; ``keep=False``
    removes the directory after a run whose target returned (a failing run keeps it).
    """
    from tb.common import sim

    model = build_model(preset)
    work = sim.run_dir(model, name)
    result = work / "session.json"
    result.unlink(missing_ok=True)
    spec = {"target": target, "kwargs": dict(kwargs or {}), "preset": preset, "result": str(result)}
    sim.run(model, test_module="tb.board.sim_io", testcase="board_session", directory=work,
            extra_env={ENV: json.dumps(spec)}, log=log)
    out = json.loads(result.read_text())
    if not out["ok"]:
        raise SessionError(f"{out['type']}: {out['message']}\n(run directory {work})\n{out['traceback']}")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return out["value"]

