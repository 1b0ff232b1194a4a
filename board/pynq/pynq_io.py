"""The board implementation of :class:`board.pynq.driver.BoardIO`: PYNQ on the ZCU102.

``pynq`` is imported when a :class:`PynqIO` is made, never at module import, so this module (and
everything that imports it) loads on machines without PYNQ.

* registers: ``pynq.MMIO`` over the accelerator's AXI4-Lite block (the ``eftrain_0`` cell of the
  block design, on M_AXI_HPM0_FPD; base and range from the overlay's ``.hwh``);
* memory: ``pynq.allocate`` (contiguous CMA memory; physical address for the accelerator);
  ``flush``/``invalidate`` are the cache maintenance (the HP0 port is not cache-coherent);
* interrupt: ``pynq.Interrupt("eftrain_0/irq")`` (the line goes to pl_ps_irq0[0], the only PL
  interrupt, which is what PYNQ supports without an AXI interrupt controller). If the overlay
  does not list the pin, :meth:`wait_irq` polls IRQ_STATUS & IRQ_ENABLE instead (the same level
  the line carries).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from board.pynq.driver import DmaBuffer

__all__ = ["DEFAULT_BITSTREAM", "IRQ_SLACK_S", "PynqIO", "default_bitstream"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where ``make bitstream`` leaves the overlay (the .hwh beside the .bit, same base name).
DEFAULT_BITSTREAM = REPO_ROOT / "build" / "zcu102" / "bitstream" / "eftrain.bit"
#: Wall-clock seconds added to every interrupt wait (Linux scheduling, Python start-up of asyncio).
IRQ_SLACK_S = 1.0
CELL = "eftrain_0"


def default_bitstream() -> Path:
    """``$EFTRAIN_BITSTREAM`` or :data:`DEFAULT_BITSTREAM`."""
    env = os.environ.get("EFTRAIN_BITSTREAM")
    return Path(env) if env else DEFAULT_BITSTREAM


class PynqIO:
    """Hardware access on a PYNQ board.

    Args:
        bitstream: the overlay (``.bit`` with its ``.hwh`` beside it); ``None``:
            :func:`default_bitstream`.
        download: program the PL (``False``: the overlay is already loaded).
        cell: the accelerator's cell name in the block design.
    """

    def __init__(self, bitstream: str | Path | None = None, *, download: bool = True,
                 cell: str = CELL) -> None:
        try:
            import pynq
        except ImportError:
            raise ValueError("PynqIO needs the pynq package (a PYNQ image on the board); it is not "
                             "installed here") from None
        path = Path(bitstream) if bitstream is not None else default_bitstream()
        if not path.is_file():
            raise ValueError(f"bitstream {path} not found: build it with `make bitstream` and copy "
                             "build/zcu102/bitstream/ (eftrain.bit + eftrain.hwh) to the board, or "
                             "set EFTRAIN_BITSTREAM")
        if not path.with_suffix(".hwh").is_file():
            raise ValueError(f"{path.with_suffix('.hwh')} not found: PYNQ needs the .hwh beside the .bit")
        self._pynq = pynq
        self.overlay = pynq.Overlay(str(path), download=download)
        ips = self.overlay.ip_dict
        if cell not in ips:
            found = [k for k, v in ips.items() if "eftrain" in str(v.get("type", "")).lower()]
            if len(found) != 1:
                raise ValueError(f"no accelerator cell {cell!r} in the overlay (IP: {', '.join(ips)})")
            cell = found[0]
        info = ips[cell]
        self.cell = cell
        self.base = int(info["phys_addr"])
        self.mmio = pynq.MMIO(self.base, int(info["addr_range"]))
        self.irq = None
        pin = f"{cell}/irq"
        if pin in getattr(self.overlay, "interrupt_pins", {}):
            self.irq = pynq.Interrupt(pin)
        self._buffers: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # registers
    def read32(self, offset: int) -> int:
        return int(self.mmio.read(offset)) & 0xFFFF_FFFF

    def write32(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value) & 0xFFFF_FFFF)

    # memory
    def alloc(self, nbytes: int) -> DmaBuffer:
        buf = self._pynq.allocate(shape=(-(-int(nbytes) // 4),), dtype=np.uint32)
        addr = int(getattr(buf, "device_address", buf.physical_address))
        self._buffers.append(buf)
        return DmaBuffer(physical_address=addr, words=buf, handle=buf)

    def free(self, buf: DmaBuffer) -> None:
        h = buf.handle
        if h is not None:
            if h in self._buffers:
                self._buffers.remove(h)
            h.freebuffer()

    def sync_to_device(self, buf: DmaBuffer) -> None:
        buf.handle.flush()

    def sync_from_device(self, buf: DmaBuffer) -> None:
        buf.handle.invalidate()

    # interrupt
    def _pending(self) -> bool:
        from eftrain import csr

        off = csr.word_offsets()
        return bool(self.read32(off["IRQ_STATUS"]) & self.read32(off["IRQ_ENABLE"]))

    def wait_irq(self, timeout: float) -> bool:
        limit = timeout + IRQ_SLACK_S
        if self._pending():
            return True
        if self.irq is not None:
            async def wait() -> None:
                await self.irq.wait()

            if self._loop is None:
                self._loop = asyncio.new_event_loop()   # one loop: pynq binds the interrupt to it
            try:
                self._loop.run_until_complete(asyncio.wait_for(wait(), limit))
            except TimeoutError:
                return self._pending()
            return True
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._pending():
                return True
            time.sleep(50e-6)
        return self._pending()

    def close(self) -> None:
        for b in list(self._buffers):
            b.freebuffer()
        self._buffers.clear()
        if self._loop is not None:
            self._loop.close()
            self._loop = None
