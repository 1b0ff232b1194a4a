"""The pyuvm environment around ``rtl/eftrain_top.sv`` (cocotb mode: Python DRAM and host).

Structure (one :class:`Env` per test; :class:`TB` owns the clock, reset and bus models)::

    sequences ──► uvm_sequencer ──► Driver ───────────────► DUT (s_axil_*: AsyncCsr over AxiLiteMaster)
                  (ProgramItem)       │ realizes the item:        │ (m_axi_*: tb.common.dram.Dram)
                                      │ memory plan, DRAM, CSRs,  │
                                      │ START, irq with timeout   ▼ irq
                                      │              ProgramMonitor: STATUS, ERR_CODE, counters,
                                      │              DRAM traffic log, window snapshot, IRQ clear
                                      ▼ Stimulus                  │ Observation
                                   Scoreboard ◄──────────────────┤
                                      │ CoverageSample            └──► AxiMonitor (window, 4 KiB,
                                      ▼                                256 beats, W/B balance, quiet)
                                   Coverage

* :class:`Driver`: realizes a :class:`~tb.top_uvm.items.ProgramItem` (memory plan of
  :mod:`eftrain.program`, tensors, mutated descriptors), sets the DRAM model's latency, pauses
  and fault regions, writes every region, snapshots the window, publishes the
  :class:`~tb.top_uvm.items.Stimulus`, programs WINDOW_*, PROG_BASE_*, PROG_COUNT, IRQ_ENABLE,
  writes CTRL.START (with CLEAR_COUNTERS), optionally CTRL.SOFT_RESET some cycles later, and waits
  for the interrupt within the item's cycle bound (a timeout fails the test: never a hang), then
  for the monitor to acknowledge it (its ``sampled`` event).
* :class:`ProgramMonitor`: on every rising ``irq`` runs its hooks (the error-injection test
  corrupts DRAM there), samples the AXI valid outputs, reads STATUS, ERR_CODE and every counter,
  takes the DRAM traffic log and a snapshot of the window, publishes an :class:`Observation` and
  clears IRQ_STATUS.
* :class:`AxiMonitor`: every AR/AW inside the (clamped) window, beat-aligned, 1..256 beats, INCR,
  full-width beats, never across a 4 KiB boundary; W beats and WLAST as the AWs announced; every
  burst answered (R beats, B responses: the bus is drained); no valid raised when DONE is seen.
* :class:`Scoreboard`: pairs stimulus and observation; checks DONE/ERROR/ERR_CODE against the
  prediction, every completed layer bit for bit against :mod:`eftrain.golden.engine` (the decoded
  tensor *and* every word of the DRAM output region against the packed golden result, so
  padding lanes must be +0.0), that no other byte of the window changed (inputs, program, the
  outputs of layers that did not run), that writes only went to outputs that were allowed to
  change (none at all for an illegal descriptor: empty AW and W-beat logs), the counters
  against the traffic log, and that repeated programs leave identical DRAM. Every differing output
  word is one :class:`Mismatch`; everything else is an error string. ``check_phase`` fails on any.
* :class:`Coverage`: counts phase x shape-class bins of layers that passed, error codes that were
  reported as predicted, program-level cases; writes ``coverage.json`` into the run directory.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_driver,
    uvm_env,
    uvm_monitor,
    uvm_scoreboard,
    uvm_sequencer,
    uvm_subscriber,
)

from eftrain import csr as csr_mod
from eftrain.config import HwConfig
from eftrain.descriptors import DESC_BYTES, ErrCode
from eftrain.program import POISON
from tb.common.dram import Dram, Traffic
from tb.top_uvm import waivers
from tb.top_uvm.items import ADDR_W, COVER_BINS, SPACE_TOP, ProgramItem, Stimulus

__all__ = ["TB", "AxiMonitor", "Coverage", "CoverageSample", "Driver", "Env", "Mismatch",
           "Observation", "ProgramMonitor", "Scoreboard"]

CLK_NS = 10


# =================================================================================================
# Test bench: clock, reset, bus models
# =================================================================================================

class TB:
    """Clock, reset, the DRAM model (m_axi_*) and the register host (s_axil_*) of one test.

    ``window`` is (WINDOW_BASE, WINDOW_LIMIT) as the host writes it; ``window_eff`` the window the
    hardware uses (the limit clamped to the 40-bit AXI space).
    """

    def __init__(self, dut: Any, cfg: HwConfig, seed: int, window: tuple[int, int]) -> None:
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        self.dut = dut
        self.cfg = cfg
        self.seed = seed
        self.rng = random.Random(seed)
        self.window = window
        self.window_eff = (window[0], min(window[1], SPACE_TOP))
        self.tag = f"[top_uvm {cfg.name} TOP_UVM_SEED={seed:#x}]"
        self.waive_storer_hang = waivers.WAIVE_STORER_ABORT_HANG
        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.dram = Dram(dut, dut.clk, ADDR_W, latency=20, clk_ns=CLK_NS)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                                  reset_active_level=False)
        self.axil.write_if.log.setLevel(logging.WARNING)   # one INFO line per access otherwise
        self.axil.read_if.log.setLevel(logging.WARNING)
        self.csr = csr_mod.AsyncCsr(self._read32, self._write32)

    @property
    def cycle(self) -> int:
        """Clock periods since the start of the simulation."""
        return int(get_sim_time("ns") // CLK_NS)

    async def _read32(self, offset: int) -> int:
        rsp = await self.axil.read(offset, 4)
        assert int(rsp.resp) == 0, f"{self.tag} CSR read {offset:#05x} answered {rsp.resp!r}"
        return int.from_bytes(rsp.data, "little")

    async def _write32(self, offset: int, value: int) -> None:
        rsp = await self.axil.write(offset, value.to_bytes(4, "little"))
        assert int(rsp.resp) == 0, f"{self.tag} CSR write {offset:#05x} answered {rsp.resp!r}"

    async def reset(self) -> None:
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 8)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 4)
        await self.csr.check_id()
        hw = await self.csr.hw_params()
        for attr, value in hw.items():
            assert getattr(self.cfg, attr) == value, f"{self.tag} HW readback {attr}={value}"

    def snapshot(self) -> bytes:
        """The bytes of the (effective) DMA window."""
        base, limit = self.window_eff
        return self.dram.read(base, limit - base)

    @property
    def irq(self) -> int:
        return int(self.dut.irq.value)


def get_tb(component: Any) -> TB:
    return ConfigDB().get(component, "", "TB")


# =================================================================================================
# Transactions produced by the monitor and the scoreboard
# =================================================================================================

@dataclass
class Observation:
    """What the monitor saw when a program stopped."""

    serial: int
    status: dict[str, int]
    code: int
    index: int
    counters: dict[str, int]
    traffic: Traffic
    after: bytes                    # the window's bytes
    valids: dict[str, int]          # AXI valid outputs when the interrupt rose
    cycle: int


@dataclass(frozen=True)
class Mismatch:
    """One DRAM output word that differs from the packed golden result."""

    program: int        # serial of the program
    layer: int          # descriptor index
    region: str
    offset: int         # word offset in the region
    addr: int           # byte address
    got: int
    want: int
    data: bool          # a tensor element (False: a padding lane)

    def __str__(self) -> str:
        what = "element" if self.data else "padding lane"
        return (f"program {self.program} layer {self.layer} {self.region}[{self.offset}] @ {self.addr:#x} "
                f"({what}): got {self.got:#010x}, want {self.want:#010x}")


@dataclass
class CoverageSample:
    kind: str                       # "layer", "code", "program"
    key: tuple[str, ...]


# =================================================================================================
# Driver
# =================================================================================================

class Driver(uvm_driver):
    """Puts each program item into DRAM and the CSRs, starts it and waits for the interrupt."""

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.tb = get_tb(self)
        self.serial = 0
        self.wall = 0.0
        self.waived = 0

    async def run_phase(self) -> None:
        while True:
            item = await self.seq_item_port.get_next_item()
            await self.drive(item)
            self.seq_item_port.item_done()

    async def drive(self, item: ProgramItem) -> None:
        tb, dram, csr = self.tb, self.tb.dram, self.tb.csr
        wall = time.perf_counter()
        stim = item.stimulus(tb.cfg, tb.window)
        self.serial += 1
        self.logger.info("program %d: %s", self.serial, stim.describe())
        dram.latency = item.latency
        dram.pause(random.Random(item.pause_seed), item.pause_level)
        for r in stim.plan.regions.values():
            dram.write_words(r.addr, r.data)
        dram.faults = list(stim.faults)
        stim.before = tb.snapshot()
        self.ap.write(stim)

        await csr.write64("WINDOW_BASE", tb.window[0])
        await csr.write64("WINDOW_LIMIT", tb.window[1])
        await csr.write64("PROG_BASE", stim.prog_base)
        await csr.write_fields("PROG_COUNT", COUNT=stim.prog_count)
        await csr.write_fields("IRQ_ENABLE", DONE=1, ERROR=1)
        assert (await csr.status())["BUSY"] == 0, f"{tb.tag} the core is busy before START"
        assert tb.irq == 0, f"{tb.tag} irq is high before START"
        self.monitor.sampled.clear()
        await csr.start(clear_counters=True)
        start = tb.cycle
        bound = item.estimate_cycles(tb.cfg)
        if item.soft_reset_at is not None:
            await ClockCycles(tb.dut.clk, item.soft_reset_at)
            gate = item.soft_reset_gate
            for _ in range(bound):
                if gate is None or gate(tb.dut) or tb.irq:
                    break
                await RisingEdge(tb.dut.clk)
            assert tb.irq == 0, (f"{tb.tag} program {self.serial} stopped before the soft reset at "
                                 f"+{item.soft_reset_at} cycles")
            await csr.soft_reset()
        try:
            await with_timeout(self._irq_high(), bound * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{tb.tag} program {self.serial}: no interrupt within {bound} cycles "
                                 f"(hang)\n{stim.describe()}") from None
        item.run_cycles = tb.cycle - start
        try:
            await with_timeout(self.monitor.sampled.wait(), 200_000 * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{tb.tag} program {self.serial}: the monitor never acknowledged the "
                                 "interrupt") from None
        assert tb.irq == 0, f"{tb.tag} program {self.serial}: irq still high after IRQ_STATUS was cleared"
        dram.faults = []
        if stim.expect.runtime and tb.waive_storer_hang and int(tb.dut.u_storer.rs_junk.value):
            # Known RTL bug (tb.top_uvm.waivers.WAIVE_STORER_ABORT_HANG): the next program would hang.
            self.logger.warning("program %d: WAIVED storer abort hang (u_storer.rs_junk = %d after the "
                                "abort): full reset", self.serial, int(tb.dut.u_storer.rs_junk.value))
            self.waived += 1
            await tb.reset()
        self.wall += time.perf_counter() - wall
        self.logger.info("program %d: %d cycles to the interrupt, %.2f s", self.serial, item.run_cycles,
                         time.perf_counter() - wall)

    async def _irq_high(self) -> None:
        while not self.tb.irq:
            await RisingEdge(self.tb.dut.irq)


# =================================================================================================
# Monitors
# =================================================================================================

class ProgramMonitor(uvm_monitor):
    """Samples the core's registers, the DRAM traffic and the window whenever ``irq`` rises.

    ``hooks``: callables run with the monitor right after the interrupt, before anything is
    sampled (the error-injection test corrupts a DRAM word there).
    """

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.tb = get_tb(self)
        self.hooks: list[Any] = []
        self.serial = 0
        self.sampled = Event()         # set when a stopped program was sampled and IRQ_STATUS cleared

    async def run_phase(self) -> None:
        tb, csr = self.tb, self.tb.csr
        valid_names = ("m_axi_arvalid", "m_axi_awvalid", "m_axi_wvalid")
        while True:
            await RisingEdge(tb.dut.irq)
            self.serial += 1
            valids = {n: int(getattr(tb.dut, n).value) for n in valid_names}
            for hook in list(self.hooks):
                hook(self)
            status = await csr.status()
            err = await csr.read_fields("ERR_CODE")
            counters = await csr.counters()
            obs = Observation(self.serial, status, err["CODE"], err["INDEX"], counters, tb.dram.take(),
                              tb.snapshot(), valids, tb.cycle)
            self.ap.write(obs)
            await csr.write_fields("IRQ_STATUS", DONE=1, ERROR=1)
            self.sampled.set()


class AxiMonitor(uvm_subscriber):
    """Protocol and window rules on the AXI master, from the DRAM traffic log of each program."""

    def build_phase(self) -> None:
        self.tb = get_tb(self)
        self.violations: list[str] = []
        self.stats: Counter[str] = Counter()

    def write(self, obs: Observation) -> None:
        tb = self.tb
        beat = tb.cfg.bus_bits // 8
        base, limit = tb.window_eff
        t = obs.traffic
        bad: list[str] = []
        for kind, bursts in (("AR", t.ar), ("AW", t.aw)):
            for addr, beats in bursts:
                end = addr + beats * beat
                where = f"{kind} {addr:#x} x{beats}"
                if not 1 <= beats <= 256:
                    bad.append(f"{where}: {beats} beats")
                if addr % beat:
                    bad.append(f"{where}: not beat-aligned")
                if addr < base or end > limit:
                    bad.append(f"{where}: outside the window [{base:#x}, {limit:#x})")
                if addr // 4096 != (end - 1) // 4096:
                    bad.append(f"{where}: crosses a 4 KiB boundary")
                self.stats[f"{kind.lower()}_bursts"] += 1
                self.stats[f"{kind.lower()}_max_beats"] = max(self.stats[f"{kind.lower()}_max_beats"], beats)
        size = beat.bit_length() - 1
        for attr in t.attrs:
            _, axsize, burst = attr[:3]
            if axsize != size or burst != 1:
                bad.append(f"burst attributes {attr}: size must be {size}, burst INCR (1)")
        want_last = [int(i == beats - 1) for _, beats in t.aw for i in range(beats)]
        if t.w_last != want_last:
            bad.append(f"W beats/WLAST do not follow the AWs: {len(t.w_last)} W beats "
                       f"({sum(t.w_last)} WLAST) for {len(t.aw)} AWs of {sum(b for _, b in t.aw)} beats")
        if t.b_count != len(t.aw):
            bad.append(f"{t.b_count} B responses for {len(t.aw)} AWs")
        if t.r_beats != sum(b for _, b in t.ar):
            bad.append(f"{t.r_beats} R beats for {len(t.ar)} ARs of {sum(b for _, b in t.ar)} beats")
        raised = [n for n, v in obs.valids.items() if v]
        if raised:
            bad.append(f"{', '.join(raised)} high when the interrupt rose (bus not drained)")
        self.stats["programs"] += 1
        for msg in bad:
            self.logger.error("program %d: %s", obs.serial, msg)
            self.violations.append(f"program {obs.serial}: {msg}")

    def check_phase(self) -> None:
        assert not self.violations, (f"{self.tb.tag} {len(self.violations)} AXI violations:\n"
                                     + "\n".join(self.violations[:20]))


# =================================================================================================
# Scoreboard
# =================================================================================================

class Scoreboard(uvm_scoreboard):
    """Predicted against observed, per program (see the module documentation)."""

    def build_phase(self) -> None:
        self.tb = get_tb(self)
        self.stim_export = uvm_subscriber.uvm_AnalysisImp("stim_export", self, self._stim)
        self.obs_export = uvm_subscriber.uvm_AnalysisImp("obs_export", self, self._obs)
        self.cov_ap = uvm_analysis_port("cov_ap", self)
        self.pending: deque[Stimulus] = deque()
        self.errors: list[str] = []
        self.mismatches: list[Mismatch] = []
        self.repeats: dict[str, tuple[int, bytes]] = {}
        self.checked = 0
        self.layers_checked = 0
        self.words_checked = 0
        self.last: tuple[Stimulus, Observation] | None = None
        self.wall = 0.0

    def _stim(self, stim: Stimulus) -> None:
        self.pending.append(stim)

    def _obs(self, obs: Observation) -> None:
        if not self.pending:
            self.errors.append(f"program {obs.serial}: an interrupt without a program (code "
                               f"{obs.code}, status {obs.status})")
            return
        stim = self.pending.popleft()
        self.last = (stim, obs)
        n_err, n_mis = len(self.errors), len(self.mismatches)
        wall = time.perf_counter()
        self.check(stim, obs)
        self.wall += time.perf_counter() - wall
        self.checked += 1
        if len(self.errors) == n_err and len(self.mismatches) == n_mis:
            self._sample(stim, obs)
            done = stim.expect.ran if stim.expect.index is not None else obs.index
            self.logger.info("program %d: %s at index %d as predicted, %d layer(s) bit-exact",
                             obs.serial, _code_name(obs.code), obs.index, done)

    # --- the checks ---------------------------------------------------------------------------------
    def check(self, stim: Stimulus, obs: Observation) -> None:
        exp = stim.expect
        tag = f"program {obs.serial}"
        errs: list[str] = []
        st = obs.status
        want_error = exp.code != ErrCode.NONE
        if st["DONE"] != 1 or st["BUSY"] != 0 or st["ERROR"] != int(want_error):
            errs.append(f"STATUS {st}, want DONE=1 BUSY=0 ERROR={int(want_error)}")
        if obs.code != exp.code:
            errs.append(f"ERR_CODE.CODE {_code_name(obs.code)}, want {exp.code.name}")
        if want_error and exp.index is not None and obs.index != exp.index:
            errs.append(f"ERR_CODE.INDEX {obs.index}, want {exp.index}")
        if exp.index is None and not 0 <= obs.index < stim.prog_count:
            errs.append(f"ERR_CODE.INDEX {obs.index} outside the program (0..{stim.prog_count - 1})")

        # Which layers completed, which output may have been partly written.
        ran = exp.ran if exp.index is not None else min(obs.index, stim.prog_count)
        stopped = obs.index if (exp.runtime and want_error) else None
        base = stim.window_eff[0]
        allowed: list[tuple[int, int]] = []
        for i, ls in enumerate(stim.layers):
            if i < ran:
                allowed.append((ls.out.addr, ls.out.end))
                self._compare_layer(stim, obs, i, errs)
            elif i == stopped:
                allowed.append((ls.out.addr, ls.out.end))

        # Nothing else in the window changed.
        before = np.frombuffer(stim.before, np.uint8)
        after = np.frombuffer(obs.after, np.uint8)
        changed = before != after
        for lo, hi in allowed:
            changed[lo - base:hi - base] = False
        if changed.any():
            where = np.flatnonzero(changed)
            errs.append(f"{where.size} bytes changed outside the outputs that may change, first at "
                        + ", ".join(f"{base + int(a):#x}" for a in where[:4]))

        # Writes went only where allowed (none at all when nothing may change).
        t = obs.traffic
        beat = stim.cfg.bus_bits // 8
        if not allowed:
            if t.aw or t.w_last or t.b_count:
                errs.append(f"writes although nothing may be written: {len(t.aw)} AWs, "
                            f"{len(t.w_last)} W beats, {t.b_count} B responses")
        else:
            for addr, beats in t.aw:
                if not any(lo <= addr and addr + beats * beat <= hi for lo, hi in allowed):
                    errs.append(f"AW {addr:#x} x{beats} outside the outputs that may be written")
                    break
        # Reads: none before the program checks pass; only the failing fetch for an illegal first
        # descriptor.
        if not exp.fetches and t.ar:
            errs.append(f"{len(t.ar)} reads although the program check fails: {t.ar[:4]}")
        if exp.fetches and not exp.runtime and want_error and exp.index == 0:
            fetch = [(stim.prog_base, DESC_BYTES // beat)]
            if t.ar != fetch:
                errs.append(f"reads {t.ar[:4]}, want only the fetch {fetch}")

        # Counters against the traffic log.
        c = obs.counters
        for name, value in (("AXI_RD_BURSTS", len(t.ar)), ("AXI_RD_BEATS", t.r_beats),
                            ("AXI_WR_BURSTS", len(t.aw)), ("AXI_WR_BEATS", len(t.w_last))):
            if c[name] != value:
                errs.append(f"counter {name} = {c[name]}, the DRAM model saw {value}")
        if not c["BUSY_CYCLES"] <= c["CYCLES"] or not c["STALL_CYCLES"] <= c["BUSY_CYCLES"]:
            errs.append(f"counters inconsistent: {c}")
        if ran > 0 and c["MAC_CYCLES"] == 0:
            errs.append("MAC_CYCLES = 0 although layers ran")
        if ran == 0 and stopped is None and c["MAC_CYCLES"] != 0:
            errs.append(f"MAC_CYCLES = {c['MAC_CYCLES']} although no layer ran")

        # Repeated programs leave the same DRAM.
        tag_r = stim.item.repeat_tag
        if tag_r is not None:
            if tag_r in self.repeats:
                first, image = self.repeats[tag_r]
                if image != obs.after:
                    diff = np.flatnonzero(np.frombuffer(image, np.uint8) != after)
                    errs.append(f"DRAM differs from the run of program {first} (same program, other "
                                f"latency/pauses): {diff.size} bytes, first at {base + int(diff[0]):#x}")
            else:
                self.repeats[tag_r] = (obs.serial, obs.after)

        for e in errs:
            msg = f"{tag}: {e}"
            self.logger.error(msg)
            self.errors.append(f"{self.tb.tag} {msg}\n{stim.describe()}")

    def _compare_layer(self, stim: Stimulus, obs: Observation, i: int, errs: list[str]) -> None:
        from eftrain.golden.tolerance import same_bits

        ls = stim.layers[i]
        base = stim.window_eff[0]
        words = np.frombuffer(obs.after[ls.out.addr - base:ls.out.end - base], "<u4").astype(np.uint32)
        want = np.asarray(ls.item.golden(stim.cfg, ls.inputs), np.float32)
        got = np.asarray(ls.layout.unpack(words), np.float32).reshape(ls.out_shape)
        elem_bad = ~same_bits(got, want) | (got.view(np.uint32) == POISON)
        full = np.asarray(ls.layout.pack(want), np.float32).view(np.uint32).reshape(-1)
        data = np.asarray(ls.layout.pack(np.ones(ls.out_shape, np.float32))).view(np.uint32).reshape(-1) != 0
        fw, ff = words.view(np.float32), full.view(np.float32)
        ok = (words == full) | (data & np.isnan(fw) & np.isnan(ff) & (words != POISON))
        bad = np.flatnonzero(~ok)
        self.layers_checked += 1
        self.words_checked += int(words.size)
        found = [Mismatch(obs.serial, i, ls.out.name, int(off), ls.out.addr + 4 * int(off), int(words[off]),
                          int(full[off]), bool(data[off])) for off in bad]
        self.mismatches += found
        for m in found[:8]:
            self.logger.error("%s", m)
        if found:
            errs.append(f"layer {i} ({ls.item}): {bad.size} of {words.size} output words differ "
                        f"({int(data[bad].sum())} elements, {int((~data[bad]).sum())} padding lanes), "
                        f"first {found[0]}")
        if int(elem_bad.sum()) != int(data[bad].sum()):
            errs.append(f"layer {i}: {int(elem_bad.sum())} decoded elements differ from golden but "
                        f"{int(data[bad].sum())} element words of the DRAM image")

    def _sample(self, stim: Stimulus, obs: Observation) -> None:
        from tb.top_uvm.items import layer_bins

        exp = stim.expect
        ran = exp.ran if exp.index is not None else obs.index
        for ls in stim.layers[:ran]:
            for b in layer_bins(ls.desc, stim.cfg):
                self.cov_ap.write(CoverageSample("layer", (ls.item.phase, b)))
        if exp.code != ErrCode.NONE:
            source = ("program" if not exp.fetches else "runtime" if exp.runtime else "descriptor")
            self.cov_ap.write(CoverageSample("code", (exp.code.name, source)))
        if stim.item.prog_mutation:
            self.cov_ap.write(CoverageSample("program", (stim.item.prog_mutation,)))
        if stim.item.repeat_tag and stim.item.repeat_tag in self.repeats \
                and self.repeats[stim.item.repeat_tag][0] != obs.serial:
            self.cov_ap.write(CoverageSample("program", ("repeat_identical",)))

    def acknowledge(self, mismatches: list[Mismatch], errors: dict[int, str] | None = None) -> None:
        """For the error-injection test: exactly ``mismatches`` must have been reported, and for
        every ``{program serial: text}`` of ``errors`` a failure of that program containing
        ``text``. Those (and the failure lines of the mismatching programs) are then forgotten;
        anything else stays and fails the test."""
        errors = errors or {}
        assert self.mismatches == mismatches, (
            f"{self.tb.tag} the scoreboard reported {len(self.mismatches)} mismatches:\n"
            + "\n".join(map(str, self.mismatches))
            + "\nexpected exactly:\n" + "\n".join(map(str, mismatches)))
        for serial, text in errors.items():
            assert any(f"program {serial}: " in e and text in e for e in self.errors), (
                f"{self.tb.tag} no failure '{text}' reported for program {serial}; failures: {self.errors}")
        done = {m.program for m in mismatches} | set(errors)
        self.errors = [e for e in self.errors if not any(f"program {p}: " in e for p in done)]
        self.mismatches = []

    def check_phase(self) -> None:
        assert self.pending == deque(), f"{self.tb.tag} {len(self.pending)} programs never stopped"
        assert not self.errors, (f"{self.tb.tag} scoreboard: {len(self.errors)} failures:\n"
                                 + "\n".join(self.errors[:10]))
        assert not self.mismatches

    def report_phase(self) -> None:
        self.logger.info("scoreboard: %d programs, %d layers, %d output words checked bit for bit "
                         "(%.1f s of checks)", self.checked, self.layers_checked, self.words_checked,
                         self.wall)


def _code_name(code: int) -> str:
    try:
        return ErrCode(code).name
    except ValueError:
        return f"{code:#x}"


# =================================================================================================
# Coverage
# =================================================================================================

class Coverage(uvm_subscriber):
    """Counts of the functional-coverage bins (phase x shape class, error codes, program cases)."""

    def build_phase(self) -> None:
        self.tb = get_tb(self)
        self.layers: Counter[tuple[str, str]] = Counter({b: 0 for b in COVER_BINS})
        self.codes: Counter[str] = Counter()
        self.sources: Counter[tuple[str, str]] = Counter()
        self.programs: Counter[str] = Counter()

    def write(self, s: CoverageSample) -> None:
        if s.kind == "layer":
            self.layers[s.key] += 1          # type: ignore[index]
        elif s.kind == "code":
            self.codes[s.key[0]] += 1
            self.sources[s.key] += 1         # type: ignore[index]
        else:
            self.programs[s.key[0]] += 1

    def missing_layers(self) -> list[tuple[str, str]]:
        return [b for b in COVER_BINS if self.layers[b] == 0]

    def missing_codes(self, codes: list[str]) -> list[str]:
        return [c for c in codes if self.codes[c] == 0]

    def summary(self) -> dict[str, Any]:
        hit = sum(1 for b in COVER_BINS if self.layers[b])
        driver = self.get_parent().driver
        if driver.waived:
            self.programs["waived_storer_hang"] = driver.waived
        return {
            "seed": self.tb.seed,
            "layer_bins": {f"{p}/{c}": self.layers[(p, c)] for p, c in COVER_BINS},
            "layer_bins_hit": f"{hit}/{len(COVER_BINS)}",
            "codes": dict(sorted(self.codes.items())),
            "code_sources": {f"{c}/{s}": n for (c, s), n in sorted(self.sources.items())},
            "programs": dict(sorted(self.programs.items())),
        }

    def report_phase(self) -> None:
        s = self.summary()
        self.logger.info("coverage: %s", json.dumps(s, indent=1))
        out = Path(os.environ.get("TOP_UVM_COVERAGE", "coverage.json"))
        out.write_text(json.dumps(s, indent=1) + "\n")


# =================================================================================================
# Environment
# =================================================================================================

class Env(uvm_env):
    """Sequencer, driver, monitors, scoreboard and coverage, connected."""

    def build_phase(self) -> None:
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = Driver.create("driver", self)
        self.monitor = ProgramMonitor.create("monitor", self)
        self.axi_monitor = AxiMonitor.create("axi_monitor", self)
        self.scoreboard = Scoreboard.create("scoreboard", self)
        self.coverage = Coverage.create("coverage", self)

    def connect_phase(self) -> None:
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.monitor = self.monitor          # the driver waits for its acknowledgement
        self.driver.ap.connect(self.scoreboard.stim_export)
        self.monitor.ap.connect(self.scoreboard.obs_export)
        self.monitor.ap.connect(self.axi_monitor.analysis_export)
        self.scoreboard.cov_ap.connect(self.coverage.analysis_export)
