"""The generated CSR block (rtl/regs/eftrain_csr.sv) on Verilator, driven over AXI4-Lite.

The block's ports are flat, so cocotb drives ``eftrain_csr`` directly (no SV wrapper): the host side
through cocotbext-axi's ``AxiLiteMaster`` wrapped in :class:`eftrain.csr.AsyncCsr` (so the Python
access layer is exercised against the RTL), the core side (``hwif_in_*`` / ``hwif_out_*``) by the
coroutines below. One simulation runs every ``@cocotb.test``; each resets the block first.

Checked: reset values of every register; ID, VERSION and the hardware-parameter readback for every
preset; the CTRL pulses (exactly one cycle, byte strobes honoured, CTRL reads 0); sticky
STATUS.DONE/ERROR and ERR_CODE, cleared by START; IRQ_STATUS set by events, write-1-to-clear, the
level interrupt output, and no event lost when it collides with a clearing write; the performance
counters (exact counts, clear, clear + increment in one cycle, 64-bit reads consistent across a
carry out of the low word, HI latched by the LO read); writes to read-only registers ignored;
unmapped addresses answer OKAY, read 0 and change nothing.

Environment: ``CSR_PRESETS`` (JSON: preset -> HwConfig attributes to drive, set by the pytest side),
``WAVES=1`` for a waveform (tb/common/sim.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

REPO = Path(__file__).resolve().parents[2]
PERIOD_NS = 10
# Addresses inside the 4 KiB block that no register uses.
UNMAPPED = (0x01C, 0x02C, 0x058, 0x07C, 0x0C0, 0x100, 0x800, 0xFFC)


# ------------------------------------------------------------------------------------------------
# Simulator side.


def _csr_module() -> Any:
    """:mod:`eftrain.csr` without running ``eftrain/__init__.py``.

    The package's ``__init__`` imports the device layer and with it torch (several seconds inside
    the simulator, most of this test's run time); the CSR layer needs none of it. A bare package
    object with the real ``__path__`` lets Python import the submodules on their own.
    """
    import importlib
    import sys
    import types

    if "eftrain" not in sys.modules:
        stub = types.ModuleType("eftrain")
        stub.__path__ = [str(REPO / "eftrain")]
        sys.modules["eftrain"] = stub
    return importlib.import_module("eftrain.csr")


class TB:
    """Clock, reset, the AXI4-Lite master and the core-side signals of one test."""

    def __init__(self, dut: Any) -> None:
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        csr = _csr_module()
        self.dut = dut
        self.csr_mod = csr
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
        self.axi = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                                 reset_active_level=False)
        self.axi.write_if.log.setLevel(logging.WARNING)  # one INFO line per transaction otherwise
        self.axi.read_if.log.setLevel(logging.WARNING)
        self.csr = csr.AsyncCsr(self.read32, self.write32)
        self.cycle = 0
        cocotb.start_soon(self._count_cycles())

    async def _count_cycles(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    def port(self, name: str) -> Any:
        return getattr(self.dut, name)

    def incr_port(self, counter: str) -> Any:
        return self.port(f"hwif_in_{counter.lower()}_count_incr")

    async def reset(self) -> None:
        for name in ("done_pulse", "error_pulse", "status_busy", "err_code_code", "err_code_index"):
            self.port(f"hwif_in_{name}").value = 0
        for counter in self.csr_mod.COUNTERS:
            self.incr_port(counter).value = 0
        self.drive_params(dict.fromkeys(self.csr_mod.HW_PARAMS.values(), 0))
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 2)

    def drive_params(self, params: dict[str, int]) -> None:
        for (reg, field), attr in self.csr_mod.HW_PARAMS.items():
            self.port(f"hwif_in_{reg.lower()}_{field.lower()}").value = params[attr]

    async def read32(self, offset: int) -> int:
        from cocotbext.axi import AxiResp

        rsp = await self.axi.read(offset, 4)
        assert rsp.resp == AxiResp.OKAY, f"read {offset:#05x}: {rsp.resp!r}"
        return int.from_bytes(rsp.data, "little")

    async def write32(self, offset: int, value: int) -> None:
        from cocotbext.axi import AxiResp

        rsp = await self.axi.write(offset, value.to_bytes(4, "little"))
        assert rsp.resp == AxiResp.OKAY, f"write {offset:#05x}: {rsp.resp!r}"

    async def pulse(self, *names: str, **values: int) -> None:
        """Drive ``hwif_in_<name>`` high for one cycle (with ``values`` on other inputs)."""
        await RisingEdge(self.dut.clk)
        for key, value in values.items():
            self.port(f"hwif_in_{key}").value = value
        for name in names:
            self.port(f"hwif_in_{name}").value = 1
        await RisingEdge(self.dut.clk)
        for name in names:
            self.port(f"hwif_in_{name}").value = 0

    async def words(self) -> dict[str, int]:
        """Every mapped 32-bit word (counters LO before HI, so each pair is one snapshot)."""
        return {name: await self.read32(off) for name, off in self.csr_mod.word_offsets().items()}


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def reset_values(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    words = await tb.words()
    for reg in tb.csr_mod.REGISTERS.values():
        live = sum(f.mask for f in reg.fields.values() if f.reset is None)
        for i, (name, value) in enumerate(_reg_words(reg, words)):
            want = (reg.reset or 0) >> (32 * i) & 0xFFFF_FFFF
            mask = ~(live >> (32 * i)) & 0xFFFF_FFFF
            assert value & mask == want & mask, f"{name} resets to {value:#010x}, expected {want:#010x}"
    # Live inputs are read as driven.
    tb.port("hwif_in_status_busy").value = 1
    assert (await tb.csr.read_fields("STATUS"))["BUSY"] == 1
    tb.port("hwif_in_status_busy").value = 0
    assert (await tb.csr.read_fields("STATUS"))["BUSY"] == 0


def _reg_words(reg: Any, words: dict[str, int]) -> list[tuple[str, int]]:
    if reg.width == 32:
        return [(reg.name, words[reg.name])]
    return [(f"{reg.name}_LO", words[f"{reg.name}_LO"]), (f"{reg.name}_HI", words[f"{reg.name}_HI"])]


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def id_version_params(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    assert await tb.csr.check_id() == tb.csr_mod.VERSION
    presets: dict[str, dict[str, int]] = json.loads(os.environ["CSR_PRESETS"])
    assert presets, "CSR_PRESETS is empty"
    for name, params in presets.items():
        tb.drive_params(params)
        got = await tb.csr.hw_params()
        assert got == params, f"preset {name}: readback {got} != driven {params}"


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def ctrl_pulses(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    names = ("start", "soft_reset", "clear_counters")
    seen: dict[str, list[int]] = {n: [] for n in names}

    async def monitor() -> None:
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            for n in names:
                if int(tb.port(f"hwif_out_ctrl_{n}").value):
                    seen[n].append(tb.cycle)

    cocotb.start_soon(monitor())

    async def expect(pulsed: set[str]) -> None:
        await ClockCycles(dut.clk, 3)
        for n in names:
            want = 1 if n in pulsed else 0
            assert len(seen[n]) == want, f"{n}: high in cycles {seen[n]}, expected {want} cycle(s)"
        cycles = {tuple(seen[n]) for n in pulsed}
        assert len(cycles) <= 1, f"pulses written together came in different cycles: {seen}"
        for n in names:
            seen[n].clear()

    await tb.csr.write_fields("CTRL", START=1)
    await expect({"start"})
    await tb.csr.write_fields("CTRL", SOFT_RESET=1)
    await expect({"soft_reset"})
    await tb.csr.write_fields("CTRL", CLEAR_COUNTERS=1)
    await expect({"clear_counters"})
    await tb.write32(tb.csr_mod.register("CTRL").offset, 0x7)
    await expect(set(names))
    await tb.write32(tb.csr_mod.register("CTRL").offset, 0x0)
    await expect(set())
    # Byte strobes: a write of byte 1 only does not touch the pulse bits in byte 0.
    rsp = await tb.axi.write(tb.csr_mod.register("CTRL").offset + 1, b"\xff")
    assert rsp.resp == 0
    await expect(set())
    assert await tb.csr.read("CTRL") == 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def status_and_error(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    ErrCode = tb.csr_mod.ErrCode
    # A program that ends well: DONE only.
    await tb.pulse("done_pulse")
    assert await tb.csr.read_fields("STATUS") == {"BUSY": 0, "DONE": 1, "ERROR": 0}
    assert await tb.csr.error() == (ErrCode.NONE, 0)
    # START clears DONE.
    await tb.csr.write_fields("CTRL", START=1)
    assert await tb.csr.read_fields("STATUS") == {"BUSY": 0, "DONE": 0, "ERROR": 0}
    # A program that fails: DONE, ERROR, and ERR_CODE loaded on error_pulse only.
    tb.port("hwif_in_err_code_code").value = int(ErrCode.BAD_KERNEL)
    tb.port("hwif_in_err_code_index").value = 7
    await ClockCycles(dut.clk, 2)
    assert await tb.csr.error() == (ErrCode.NONE, 0), "ERR_CODE followed its inputs without error_pulse"
    await tb.pulse("done_pulse", "error_pulse", err_code_code=int(ErrCode.OUT_OF_WINDOW),
                   err_code_index=0xABCDEF)
    tb.port("hwif_in_err_code_code").value = int(ErrCode.AXI_SLVERR)
    tb.port("hwif_in_err_code_index").value = 1
    assert await tb.csr.read_fields("STATUS") == {"BUSY": 0, "DONE": 1, "ERROR": 1}
    assert await tb.csr.error() == (ErrCode.OUT_OF_WINDOW, 0xABCDEF)
    # Reading does not clear; START does.
    assert await tb.csr.error() == (ErrCode.OUT_OF_WINDOW, 0xABCDEF)
    await tb.csr.write_fields("CTRL", START=1)
    assert await tb.csr.read_fields("STATUS") == {"BUSY": 0, "DONE": 0, "ERROR": 0}
    assert await tb.csr.error() == (ErrCode.NONE, 0)
    # SOFT_RESET does not touch the register block.
    await tb.pulse("done_pulse", "error_pulse", err_code_code=int(ErrCode.SOFT_RESET_ABORT),
                   err_code_index=3)
    await tb.csr.write_fields("CTRL", SOFT_RESET=1)
    assert await tb.csr.error() == (ErrCode.SOFT_RESET_ABORT, 3)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def interrupts(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    irq = tb.port("hwif_out_irq_status_intr")
    assert await tb.csr.read_fields("IRQ_STATUS") == {"DONE": 0, "ERROR": 0}
    # Causes are recorded whether or not enabled; the output needs the enable.
    await tb.pulse("done_pulse")
    assert await tb.csr.read_fields("IRQ_STATUS") == {"DONE": 1, "ERROR": 0}
    assert int(irq.value) == 0
    await tb.csr.write_fields("IRQ_ENABLE", ERROR=1)
    assert int(irq.value) == 0
    await tb.csr.write_fields("IRQ_ENABLE", DONE=1)
    assert await tb.csr.read_fields("IRQ_ENABLE") == {"DONE": 1, "ERROR": 1}
    assert int(irq.value) == 1
    # Write 1 to clear; writing 0 clears nothing.
    await tb.csr.write_fields("IRQ_STATUS", DONE=0)
    assert (await tb.csr.read_fields("IRQ_STATUS"))["DONE"] == 1
    await tb.csr.write_fields("IRQ_STATUS", DONE=1)
    assert await tb.csr.read_fields("IRQ_STATUS") == {"DONE": 0, "ERROR": 0}
    assert int(irq.value) == 0
    await tb.pulse("done_pulse", "error_pulse")
    assert await tb.csr.read_fields("IRQ_STATUS") == {"DONE": 1, "ERROR": 1}
    await tb.csr.write_fields("IRQ_STATUS", ERROR=1)
    assert await tb.csr.read_fields("IRQ_STATUS") == {"DONE": 1, "ERROR": 0}
    assert int(irq.value) == 1
    await tb.csr.write_fields("IRQ_ENABLE", DONE=0)
    assert int(irq.value) == 0
    await tb.csr.write_fields("IRQ_ENABLE", DONE=1)
    await tb.csr.write_fields("IRQ_STATUS", DONE=1)

    # An event in the same cycle as a clearing write is not lost. First find the cycle in which
    # a clearing write takes effect (relative to the write's start), then pulse the event in every
    # cycle around it while the write runs: the cause must be pending right after each pulse.
    offset = tb.csr_mod.register("IRQ_STATUS").offset
    await tb.pulse("done_pulse")
    start = tb.cycle
    fell: list[int] = []

    async def watch() -> None:
        await ReadOnly()
        while int(irq.value):
            await RisingEdge(dut.clk)
            await ReadOnly()
        fell.append(tb.cycle - start)

    watcher = cocotb.start_soon(watch())
    await tb.write32(offset, 1)
    await ClockCycles(dut.clk, 2)
    assert fell, "a clearing write did not clear IRQ_STATUS.DONE"
    watcher.cancel()
    effect = fell[0]
    assert effect > 0
    for k in range(max(0, effect - 3), effect + 3):
        assert int(irq.value) == 0
        begin = tb.cycle
        write = cocotb.start_soon(tb.write32(offset, 1))
        while tb.cycle - begin < k:
            await RisingEdge(dut.clk)
        await tb.pulse("done_pulse")
        await ReadOnly()
        assert int(irq.value) == 1, (
            f"done_pulse sent {k} cycles after a clearing write began was lost (clears near {effect})")
        await write
        await ClockCycles(dut.clk, 2)
        if int(irq.value):
            await tb.write32(offset, 1)
            await ClockCycles(dut.clk, 1)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def counters(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    names = tb.csr_mod.COUNTERS
    assert await tb.csr.counters() == dict.fromkeys(names, 0)
    # Exact counts: counter i sees 3 + 2i increments, in bursts with gaps.
    want = {name: 3 + 2 * i for i, name in enumerate(names)}
    await RisingEdge(dut.clk)
    for step in range(2 * max(want.values())):
        for name in names:
            tb.incr_port(name).value = int(step % 2 == 0 and step // 2 < want[name])
        await RisingEdge(dut.clk)
    for name in names:
        tb.incr_port(name).value = 0
    assert await tb.csr.counters() == want
    # CLEAR_COUNTERS clears them all.
    await tb.csr.clear_counters()
    assert await tb.csr.counters() == dict.fromkeys(names, 0)

    # A clear in a cycle with an increment leaves exactly that increment.
    clear = tb.port("hwif_out_ctrl_clear_counters")
    storage = tb.port("field_storage_cycles_count_value")  # the counter itself (white box)
    cycles = tb.incr_port("CYCLES")
    after_clear: list[int] = []

    async def watch_clear() -> None:
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if int(clear.value):  # the clear pulse is high in this cycle: look after its edge
                await RisingEdge(dut.clk)
                await ReadOnly()
                after_clear.append(int(storage.value))
                return

    cocotb.start_soon(watch_clear())
    await RisingEdge(dut.clk)
    cycles.value = 1
    await tb.csr.clear_counters()
    await ClockCycles(dut.clk, 3)
    cycles.value = 0
    assert after_clear == [1], f"counter after a clear with an increment: {after_clear}, expected [1]"

    # 64-bit reads across a carry out of the low word: start just below 2^32 and count every
    # cycle; each LO-then-HI read must be one consistent, increasing value.
    await RisingEdge(dut.clk)
    storage.value = (1 << 32) - 60
    cycles.value = 1
    values = [await tb.csr.read64("CYCLES") for _ in range(16)]
    assert values[-1] > 1 << 32, f"never crossed 2^32: {[hex(v) for v in values]}"
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert all(0 < s < 64 for s in steps), f"inconsistent 64-bit reads: {[hex(v) for v in values]}"
    # HI returns what the last LO read latched, however far the counter has moved since.
    storage.value = (1 << 32) - 30
    await RisingEdge(dut.clk)
    lo_off, hi_off = tb.csr_mod.word_offsets()["CYCLES_LO"], tb.csr_mod.word_offsets()["CYCLES_HI"]
    low = await tb.read32(lo_off)
    await ClockCycles(dut.clk, 60)
    assert await tb.read32(hi_off) == 0, "HI did not come from the LO read's snapshot"
    assert await tb.read32(hi_off) == 0
    assert low > (1 << 32) - 30
    assert await tb.csr.read64("CYCLES") > 1 << 32
    cycles.value = 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def read_write_registers(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    pairs = {"PROG_BASE": 0x0000_0012_3456_7840, "WINDOW_BASE": 0x0000_0008_0000_0000,
             "WINDOW_LIMIT": 0x0000_0008_4000_0000}
    for name, value in pairs.items():
        await tb.csr.write64(name, value)
    await tb.csr.write_fields("PROG_COUNT", COUNT=0xFF_FFFF)
    for name, value in pairs.items():
        assert await tb.csr.read64(name) == value
        lo = int(tb.port(f"hwif_out_{name.lower()}_lo_addr").value)
        hi = int(tb.port(f"hwif_out_{name.lower()}_hi_addr").value)
        assert hi << 32 | lo == value, f"{name}: hwif shows {hi << 32 | lo:#x}"
    assert int(tb.port("hwif_out_prog_count_count").value) == 0xFF_FFFF
    # PROG_COUNT has 24 bits: the upper byte reads 0.
    await tb.write32(tb.csr_mod.register("PROG_COUNT").offset, 0xFFFF_FFFF)
    assert await tb.csr.read("PROG_COUNT") == 0x00FF_FFFF
    # Byte strobes: one byte written, the others kept.
    off = tb.csr_mod.register("WINDOW_BASE_LO").offset
    rsp = await tb.axi.write(off + 2, b"\x5a")
    assert rsp.resp == 0
    assert await tb.read32(off) == 0x005A_0000
    # Word addressing: the two low address bits are ignored by a read.
    rsp = await tb.axi.read(off + 1, 1)
    assert rsp.resp == 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def read_only_and_unmapped(dut: Any) -> None:
    tb = TB(dut)
    await tb.reset()
    tb.drive_params({attr: 3 for attr in tb.csr_mod.HW_PARAMS.values()})
    await tb.pulse("done_pulse", "error_pulse", err_code_code=5, err_code_index=9)
    for i, name in enumerate(tb.csr_mod.COUNTERS):
        tb.incr_port(name).value = 1
        await ClockCycles(dut.clk, i + 1)
        tb.incr_port(name).value = 0
    # Distinct patterns in the RW registers, so that an aliasing write would show.
    rw = [r for r in tb.csr_mod.REGISTERS.values() if r.access == "RW"]
    for i, reg in enumerate(rw):
        mask = sum(f.mask for f in reg.fields.values())
        await tb.write32(reg.offset, (0x1111_1111 * (i + 1)) & mask)
    before = await tb.words()

    # Writes to read-only registers: OKAY, no effect.
    ro = [r for r in tb.csr_mod.REGISTERS.values() if r.access == "RO"]
    for reg in ro:
        for i in range(reg.width // 32):
            await tb.write32(reg.offset + 4 * i, 0xFFFF_FFFF)
    assert await tb.words() == before, "a write to a read-only register changed something"

    # Unmapped addresses: OKAY, read 0, writes change nothing.
    for addr in UNMAPPED:
        assert await tb.read32(addr) == 0, f"unmapped {addr:#05x} reads non-zero"
        await tb.write32(addr, 0xFFFF_FFFF)
    assert await tb.words() == before, "a write to an unmapped address changed a register"
    assert int(tb.port("hwif_out_ctrl_start").value) == 0


# ------------------------------------------------------------------------------------------------
# pytest side.


def test_csr_block() -> None:
    """Build eftrain_csr (preset-independent: build/regs/csr) and run every cocotb test above."""
    from eftrain.config import preset, preset_names
    from eftrain.csr import HW_PARAMS
    from tb.common import sim

    regs = REPO / "rtl" / "regs"
    model = sim.build(
        toplevel="eftrain_csr",
        sources=[regs / "eftrain_csr.vlt", regs / "eftrain_csr.sv"],
        tag="regs",
        unit="csr",
    )
    presets = {name: {attr: getattr(preset(name), attr) for attr in HW_PARAMS.values()}
               for name in preset_names()}
    sim.run(model, test_module="tb.csr.test_csr", extra_env={"CSR_PRESETS": json.dumps(presets)})
