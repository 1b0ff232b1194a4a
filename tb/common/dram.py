"""The DRAM model behind an AXI4 master, shared by every testbench that has one.

:class:`Dram` is cocotbext-axi's RAM model (``AxiRamRead`` + ``AxiRamWrite`` on one
``SparseMemory``) with what the accelerator's tests need on top:

* a **pipelined read latency**: every AR is stamped when the slave accepts it and served no
  sooner than ``latency`` clock periods later; up to ``depth`` accepted ARs wait in the pipe, so
  the master (not the model) limits the outstanding reads. ``dram.latency`` can change at any time
  (it applies to ARs accepted afterwards);
* **fault regions**: ``dram.faults`` is a list of ``(start, end, resp)`` byte ranges (half open,
  ``resp`` = :data:`RESP_SLVERR` or :data:`RESP_DECERR`); a read beat or a write burst that
  overlaps one returns that response (the write is not performed);
* a **traffic log** (:class:`Traffic`: every AR/AW as ``(address, beats)``, R beats, ``wlast`` of
  every W beat, B count and the AXI attributes seen) that :meth:`Dram.take` hands over and resets;
* **random back-pressure**: :meth:`Dram.pause` puts reproducible random pause generators
  (:func:`pause_gen`) on the five AXI channels (AR/AW ready, R/B valid, W ready stalls), and
  :func:`set_pause` does the same for any cocotbext-axi stream source or sink.

Typical use inside a cocotb test::

    from tb.common.dram import Dram

    dram = Dram(dut, dut.clk, addr_w=40, latency=20, clk_ns=10)   # ports m_axi_* of dut
    dram.write_words(0x1000, [1, 2, 3])
    dram.pause(random.Random(seed), level=0.2)                      # random AXI stalls
    ...
    assert dram.words(0x2000, 16) == expected
    log = dram.take()                                                # bursts seen since last take

The memory is ``2**min(addr_w, 48)`` bytes; addresses wrap modulo its size (tests may use a small
window near the top of a wide address space). The model is simulation-only Python: keep its
per-burst work small, and the log off the hot path (it is a few list appends per burst).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.queue import Queue
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiRamRead, AxiRamWrite
from cocotbext.axi.sparse_memory import SparseMemory

__all__ = [
    "RESP_DECERR",
    "RESP_OKAY",
    "RESP_SLVERR",
    "AxiFault",
    "Dram",
    "RamRead",
    "RamWrite",
    "Traffic",
    "pause_gen",
    "set_pause",
]

RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0, 2, 3


class AxiFault(Exception):
    """Raised by the RAM model inside a fault region (cocotbext-axi turns it into an error resp)."""


@dataclass
class Traffic:
    """What the RAM model saw on the AXI bus (in handshake order), since the last take()."""

    ar: list[tuple[int, int]] = field(default_factory=list)    # (address, beats)
    aw: list[tuple[int, int]] = field(default_factory=list)
    r_beats: int = 0
    w_last: list[int] = field(default_factory=list)            # wlast of every W beat
    b_count: int = 0
    attrs: set[tuple[int, ...]] = field(default_factory=set)   # (id, size, burst, lock, cache, prot, qos)

    def empty(self) -> bool:
        return not (self.ar or self.aw or self.r_beats or self.w_last or self.b_count)


def _ax_record(log: Traffic, ax: object, p: str) -> tuple[int, int]:
    g = lambda s: int(getattr(ax, p + s))  # noqa: E731
    log.attrs.add((g("id"), g("size"), g("burst"), g("lock"), g("cache"), g("prot"), g("qos")))
    return g("addr"), g("len") + 1


def pause_gen(rng: random.Random, prob: float, max_run: int = 6) -> Iterator[bool]:
    """Pause pattern: with probability ``prob`` per cycle a pause of 1..max_run cycles starts."""
    while True:
        if rng.random() < prob:
            yield from [True] * rng.randint(1, max_run)
        else:
            yield False


def set_pause(channel: object, rng: random.Random, prob: float, max_run: int = 6) -> None:
    """Random pauses (:func:`pause_gen`, its own seed drawn from ``rng``) on a cocotbext-axi
    channel, stream source or sink; ``prob <= 0`` removes them. ``prob`` is capped at 0.9 (a
    channel paused for good would hang the test, not stress it)."""
    prob = min(prob, 0.9)
    if prob > 0:
        channel.set_pause_generator(pause_gen(random.Random(rng.getrandbits(32)), prob, max_run))
    else:
        channel.set_pause_generator(None)
        channel.pause = False   # a stopped generator leaves its last value


class RamRead(AxiRamRead):
    """cocotbext-axi's RAM read side, plus a pipelined read latency, fault regions and a log.

    Every AR is stamped when the slave accepts it and served no sooner than ``latency`` clock
    periods (``clk_ns`` each) later; up to ``depth`` accepted ARs wait in the latency pipe. A beat
    that overlaps a fault region returns the region's response.
    """

    def __init__(self, bus: object, clock: object, dram: Dram, latency: int, depth: int = 32,
                 clk_ns: float = 10) -> None:
        super().__init__(bus, clock, mem=dram.mem)
        self.dram = dram
        self.latency = latency
        self.clk_ns = clk_ns
        self._resp: int | None = None
        self._pipe: Queue = Queue(maxsize=depth)
        accept, send = self.ar_channel.recv, self.r_channel.send

        async def stamp() -> None:
            while True:
                ar = await accept()
                dram.log.ar.append(_ax_record(dram.log, ar, "ar"))
                await self._pipe.put((ar, get_sim_time("ns") + self.latency * self.clk_ns))

        async def delayed() -> object:
            ar, due = await self._pipe.get()
            now = get_sim_time("ns")
            if due > now:
                await Timer(due - now, "ns")
            return ar

        async def send_resp(r: object) -> None:
            if self._resp is not None:
                r.rresp = self._resp
                self._resp = None
            dram.log.r_beats += 1
            await send(r)

        self.ar_channel.recv = delayed
        self.r_channel.send = send_resp
        cocotb.start_soon(stamp())

    async def _read(self, address: int, length: int) -> bytes:
        resp = self.dram.fault_at(address, length)
        if resp is not None:
            self._resp = resp
            raise AxiFault(hex(address))
        return await super()._read(address, length)


class RamWrite(AxiRamWrite):
    """cocotbext-axi's RAM write side, plus fault regions (a burst writing into one gets its resp)
    and a log."""

    def __init__(self, bus: object, clock: object, dram: Dram) -> None:
        super().__init__(bus, clock, mem=dram.mem)
        self.dram = dram
        self._resp: int | None = None
        aw_recv, w_recv, b_send = self.aw_channel.recv, self.w_channel.recv, self.b_channel.send

        async def aw_log() -> object:
            aw = await aw_recv()
            dram.log.aw.append(_ax_record(dram.log, aw, "aw"))
            return aw

        async def w_log() -> object:
            w = await w_recv()
            dram.log.w_last.append(int(w.wlast))
            return w

        async def send_resp(b: object) -> None:
            if self._resp is not None:
                b.bresp = self._resp
                self._resp = None
            dram.log.b_count += 1
            await b_send(b)

        self.aw_channel.recv = aw_log
        self.w_channel.recv = w_log
        self.b_channel.send = send_resp

    async def _write(self, address: int, data: bytes) -> None:
        resp = self.dram.fault_at(address, len(data))
        if resp is not None:
            self._resp = resp
            raise AxiFault(hex(address))
        await super()._write(address, data)


class Dram:
    """The DRAM behind an AXI4 master: sparse memory, read latency, fault regions, traffic log.

    ``handle`` holds the master's AXI ports ``<prefix>_ar*`` ... ``<prefix>_b*`` (default prefix
    ``m_axi``); ``latency`` is in clock periods of ``clk_ns`` nanoseconds.
    """

    def __init__(self, handle: object, clock: object, addr_w: int, latency: int, *,
                 prefix: str = "m_axi", clk_ns: float = 10, depth: int = 32) -> None:
        self.mem = SparseMemory(2 ** min(addr_w, 48))
        self.size = len(self.mem)
        self.faults: list[tuple[int, int, int]] = []   # (start, end, resp), unwrapped addresses
        self.log = Traffic()
        bus = AxiBus.from_prefix(handle, prefix)
        self.rd = RamRead(bus.read, clock, self, latency, depth=depth, clk_ns=clk_ns)
        self.wr = RamWrite(bus.write, clock, self)
        self.rd.log.setLevel(logging.WARNING)   # no log line per burst
        self.wr.log.setLevel(logging.WARNING)
        self.addr_mask = (1 << addr_w) - 1

    # --- knobs -----------------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        """Read latency in clock periods (AR accepted -> first R beat at the earliest)."""
        return self.rd.latency

    @latency.setter
    def latency(self, cycles: int) -> None:
        self.rd.latency = cycles

    @property
    def channels(self) -> list[object]:
        """The five AXI channel models: AR, R, AW, W, B."""
        return [self.rd.ar_channel, self.rd.r_channel, self.wr.aw_channel, self.wr.w_channel,
                self.wr.b_channel]

    def pause(self, rng: random.Random, level: float, max_run: int = 6) -> None:
        """Random stalls on every AXI channel: each one gets a pause probability of ``level``
        times a random factor in {0, 0.5, 1, 1.5} (so some channels run free); ``level = 0``
        removes every pause."""
        for ch in self.channels:
            set_pause(ch, rng, level * rng.choice([0.0, 0.5, 1.0, 1.5]), max_run)

    # --- contents --------------------------------------------------------------------------------
    def fault_at(self, address: int, length: int) -> int | None:
        """The response of a fault region that [address, address + length) overlaps, if any."""
        address %= self.size
        for start, end, resp in self.faults:
            lo, hi = start % self.size, (end - 1) % self.size + 1
            if address < hi and lo < address + length:
                return resp
        return None

    def read(self, address: int, length: int) -> bytes:
        a = address % self.size
        return bytes(self.mem[a:a + length])

    def write(self, address: int, data: bytes) -> None:
        a = address % self.size
        self.mem[a:a + len(data)] = data

    def words(self, address: int, count: int) -> list[int]:
        """``count`` little-endian 32-bit words from ``address``."""
        raw = self.read(address, 4 * count)
        return [int.from_bytes(raw[4 * k:4 * k + 4], "little") for k in range(count)]

    def array(self, address: int, count: int) -> np.ndarray:
        """``count`` 32-bit words from ``address`` as a uint32 array."""
        return np.frombuffer(self.read(address, 4 * count), dtype="<u4").astype(np.uint32)

    def write_words(self, address: int, words: Iterable[int] | np.ndarray) -> None:
        """Store 32-bit words (ints, or any array whose items fit: float32 arrays keep their bits)."""
        a = np.asarray(words)
        if a.dtype == np.float32:
            a = a.view(np.uint32)
        self.write(address, a.astype("<u4").tobytes())

    def take(self) -> Traffic:
        """The traffic log since the last take (and a fresh one)."""
        log, self.log = self.log, Traffic()
        return log
