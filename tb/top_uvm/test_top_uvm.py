"""Layer-level pyuvm verification of the whole accelerator (``rtl/eftrain_top.sv``), cocotb mode.

The Verilator model is ``eftrain_top`` itself (``build/<preset>/top_uvm/model``); the DRAM behind
``m_axi_*`` is :class:`tb.common.dram.Dram` (random read latency, random pauses on every AXI
channel, fault regions, traffic log) and the host is cocotbext-axi's ``AxiLiteMaster`` on
``s_axil_*`` wrapped in :class:`eftrain.csr.AsyncCsr`. The environment (items, sequences,
driver, monitors, scoreboard, coverage) is documented in :mod:`tb.top_uvm.env`,
:mod:`tb.top_uvm.items` and :mod:`tb.top_uvm.sequences`. Each pytest function below runs one
pyuvm test in its own simulation:

``random_legal``     mixed programs of random legal layers of all three phases over every
                     phase x shape-class bin, under random DRAM latency and random back-pressure on
                     every AXI channel: bit-exact with the golden model (padding lanes +0.0); one
                     program run twice (latency 1 / no pauses, latency 60 / heavy pauses) leaves
                     identical DRAM. Asserts every phase x shape-class bin was hit.
``illegal_fuzz``     ~250 random mutations of legal descriptors (every field, the tiling, addresses
                     misaligned and out of the window, random bit flips), some behind legal layers;
                     program-level cases (misaligned / out-of-window program base, a count that does
                     not fit, PROG_COUNT = 0: DONE without error). Code and index as
                     ``eftrain.descriptors.validate`` says, zero DRAM writes (window snapshot, empty
                     AW/W logs), no hang; then a legal program bit-exact. The window ends at the top
                     of the 40-bit AXI space (WINDOW_LIMIT beyond it is clamped). Asserts every
                     validation code and every program-level case was hit.
``soft_reset``       CTRL.SOFT_RESET while idle (nothing happens), then at random points of running
                     programs (during the first fetch, mid-program, late): DONE + ERROR with
                     SOFT_RESET_ABORT, the layers before the reported index complete, nothing else
                     written, the AXI bus drained; each followed by a legal program bit-exact.
``axi_errors``       SLVERR / DECERR fault regions on an input tensor, on the output tensor and on
                     the program (descriptor fetch) of one layer of a program: AXI_SLVERR /
                     AXI_DECERR at that layer's index, no hang, earlier layers bit-exact, then a
                     legal program bit-exact.
``error_injection``  one output element word and one padding-lane word corrupted in DRAM after the
                     run (monitor hook, before the scoreboard compares): the scoreboard must report
                     exactly those two mismatches (address, value, element/padding); an input word
                     changed after a legal run and an output word written after an illegal
                     descriptor must be reported as stray changes; then nothing else fails.
``reload_hazard``    regression of an RTL bug this environment found (fixed): FP/BP layers with
                     several weight chunks and one output tile per chunk pass reloaded their
                     partial sums before they were stored.
``abort_hang``       regression of an RTL bug this environment found (fixed): a soft reset while
                     the storer waited for an engine unload response left the storer dropping the
                     next program's first responses: the next program hung.
                     Both bugs are described in :mod:`tb.top_uvm.waivers`.

``campaign_slow``    (slow) random_legal, illegal_fuzz, soft_reset and axi_errors six times longer,
                     random layers up to 20 channels / 20 x 20 maps (TOP_UVM_SCALE=6).

Environment: ``TOP_UVM_SEED`` fixes the seed (printed in every failure message, drawn at random
otherwise); ``WAVES=1`` builds a traced model. Each run leaves ``coverage.json`` and ``sim.log``
in its run directory (``build/ci/top_uvm/<test>/``).
"""

from __future__ import annotations

import json
import os
import random
import secrets
from typing import Any

import cocotb
import pytest
import pyuvm
from pyuvm import ConfigDB, uvm_test

from tb.common import sim

TEST_MODULE = "tb.top_uvm.test_top_uvm"
SIM_TIMEOUT_MS = 1000      # cocotb watchdog (simulated time); the driver's per-program bound fires first


# =================================================================================================
# pytest side
# =================================================================================================

def _build(preset_name: str) -> sim.Model:
    from eftrain.config import preset

    return sim.build(
        toplevel="eftrain_top",
        sources=sim.top_sources(),
        tag=preset_name,
        unit="top_uvm",
        parameters=preset(preset_name).top_parameters(),
        build_args=["-O3"],
    )


def _run(test: str, preset_name: str = "ci", scale: int = 1) -> dict[str, Any]:
    model = _build(preset_name)
    env_seed = os.environ.get("TOP_UVM_SEED")
    seed = int(env_seed, 0) if env_seed else secrets.randbits(32)
    work = sim.run_dir(model, test if scale == 1 else f"{test}_x{scale}")
    cov = work / "coverage.json"
    cov.unlink(missing_ok=True)
    env = {"TOP_UVM_SEED": str(seed), "TOP_UVM_CFG": preset_name, "TOP_UVM_COVERAGE": str(cov),
           "TOP_UVM_SCALE": str(scale)}
    try:
        sim.run(model, test_module=TEST_MODULE, directory=work, testcase=test, extra_env=env,
                seed=seed & 0x7FFFFFFF)
    except sim.SimulationError as exc:
        raise AssertionError(f"[top_uvm {preset_name} {test} x{scale}, TOP_UVM_SEED={seed:#x}] "
                             f"{exc}") from None
    summary = json.loads(cov.read_text())
    print(f"{test} TOP_UVM_SEED={seed:#x} coverage:", json.dumps(summary))
    return summary


def test_random_legal() -> None:
    cov = _run("RandomLegalTest")
    assert all(cov["layer_bins"].values()), cov["layer_bins"]


def test_illegal_fuzz() -> None:
    cov = _run("IllegalFuzzTest")
    assert sum(cov["codes"].values()) >= 200, cov["codes"]


def test_soft_reset() -> None:
    cov = _run("SoftResetTest")
    assert cov["codes"].get("SOFT_RESET_ABORT", 0) == 4, cov["codes"]


def test_axi_errors() -> None:
    cov = _run("AxiErrorTest")
    assert cov["codes"].get("AXI_SLVERR") and cov["codes"].get("AXI_DECERR"), cov["codes"]


def test_error_injection() -> None:
    _run("ErrorInjectionTest")


@pytest.mark.slow
@pytest.mark.parametrize("test", ["RandomLegalTest", "IllegalFuzzTest", "SoftResetTest", "AxiErrorTest"])
def test_campaign_slow(test: str) -> None:
    """The same tests, six times longer, with larger layers (TOP_UVM_SCALE=6)."""
    _run(test, scale=6)


def test_reload_hazard() -> None:
    _run("ReloadHazardTest")


def test_abort_hang() -> None:
    _run("AbortHangTest")


# =================================================================================================
# Simulator side: the pyuvm tests
# =================================================================================================

class TopTest(uvm_test):
    """Base: the TB (clock, DRAM, host), the environment, reset, then :meth:`body`."""

    window_at_top = False

    def build_phase(self) -> None:
        from eftrain.config import preset
        from tb.top_uvm.env import TB, Env

        seed = int(os.environ.get("TOP_UVM_SEED", "1"), 0)
        self.cfg = preset(os.environ.get("TOP_UVM_CFG", "ci"))
        rng = random.Random(seed)
        if self.window_at_top:
            # The last MiB of the 40-bit AXI space; WINDOW_LIMIT at or beyond its top (clamped).
            base = (1 << 40) - (1 << 20)
            window = (base, rng.choice([(1 << 40) - 64, 1 << 40, (1 << 64) - 1]))
        else:
            base = rng.randrange(1 << 32, (1 << 40) - (64 << 20), 64)   # any 64-byte boundary
            window = (base, base + (4 << 20))
        self.tb = TB(cocotb.top, self.cfg, seed, window)
        self.scale = int(os.environ.get("TOP_UVM_SCALE", "1"))
        self.rng = random.Random(rng.getrandbits(64))
        ConfigDB().set(None, "*", "TB", self.tb)
        self.env = Env("env", self)

    async def run_phase(self) -> None:
        self.raise_objection()
        try:
            self.logger.info("%s window [%#x, %#x)", self.tb.tag, *self.tb.window)
            await self.tb.reset()
            await self.body()
        finally:
            self.drop_objection()

    async def body(self) -> None:
        raise NotImplementedError

    def seq(self, cls: type, name: str, **kw: Any) -> Any:
        return cls(name, self.cfg, self.rng, self.tb.window, **kw)

    async def run_seq(self, cls: type, name: str, **kw: Any) -> Any:
        s = self.seq(cls, name, **kw)
        await s.start(self.env.seqr)
        return s


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class RandomLegalTest(TopTest):
    """Random legal mixed programs under random latency/back-pressure; one program run twice."""

    async def body(self) -> None:
        from tb.top_uvm.sequences import MixedProgramSeq, RepeatSeq

        big = self.scale > 1
        await self.run_seq(MixedProgramSeq, "mixed", programs=8 * self.scale, max_layers=4,
                           max_macs=120_000 if big else 24_000, max_dim=20 if big else 10)
        await self.run_seq(RepeatSeq, "repeat")
        cov = self.env.coverage
        missing = cov.missing_layers()
        assert not missing, f"{self.tb.tag} coverage bins not hit: {missing}"
        assert cov.programs["repeat_identical"] == 1, f"{self.tb.tag} the repeated program was not checked"


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class IllegalFuzzTest(TopTest):
    """Illegal-descriptor fuzz and program-level cases, then a legal program."""

    window_at_top = True

    async def body(self) -> None:
        from eftrain.descriptors import VALIDATION_CODES, ErrCode
        from tb.top_uvm.items import PROG_MUTATIONS
        from tb.top_uvm.sequences import IllegalFuzzSeq, MixedProgramSeq, ProgramLevelSeq

        fuzz = await self.run_seq(IllegalFuzzSeq, "fuzz", count=240 * self.scale)
        await self.run_seq(ProgramLevelSeq, "program_level", repeat=2 * self.scale)
        await self.run_seq(MixedProgramSeq, "legal_after", programs=1, max_layers=2, max_macs=8_000)
        cov = self.env.coverage
        self.logger.info("fuzz verdicts drawn: %s", fuzz.codes)
        codes = [c.name for c in VALIDATION_CODES if c != ErrCode.NONE]
        missing = cov.missing_codes(codes)
        assert not missing, f"{self.tb.tag} validation codes never hit: {missing}"
        absent = [pm for pm in PROG_MUTATIONS if not cov.programs[pm]]
        assert not absent, f"{self.tb.tag} program-level cases never checked: {absent}"
        assert cov.sources[("MISALIGNED_ADDR", "program")] and cov.sources[("OUT_OF_WINDOW", "program")]


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class SoftResetTest(TopTest):
    """CTRL.SOFT_RESET while idle and at random points of running programs."""

    async def body(self) -> None:
        from cocotb.triggers import ClockCycles

        from tb.top_uvm.sequences import SoftResetSeq

        tb = self.tb
        before = await tb.csr.status()
        await tb.csr.soft_reset()                     # idle: resets the core, no completion
        await ClockCycles(tb.dut.clk, 100)
        after = await tb.csr.status()
        assert tb.irq == 0 and after == before, f"{tb.tag} soft reset while idle: {before} -> {after}"
        s = await self.run_seq(SoftResetSeq, "soft_reset", resets=4 * self.scale)
        self.logger.info("soft resets at (cycle, clean run cycles): %s", s.points)
        assert self.env.coverage.codes["SOFT_RESET_ABORT"] == 4 * self.scale


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class AxiErrorTest(TopTest):
    """SLVERR / DECERR on inputs, outputs and the program; recovery."""

    async def body(self) -> None:
        from tb.top_uvm.sequences import FaultSeq

        await self.run_seq(FaultSeq, "faults", rounds=self.scale)
        src = self.env.coverage.sources
        for code in ("AXI_SLVERR", "AXI_DECERR"):
            assert src[(code, "runtime")] >= 2, f"{self.tb.tag} {code} seen {src[(code, 'runtime')]} times"


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class ReloadHazardTest(TopTest):
    """Minimal reproductions of the partial-output reload hazard (FP/BP, several weight chunks,
    one output tile per chunk pass): each layer must be bit-exact; today they are not."""

    CASES = (("fp", 1, 4, 8, 1, 6, 1, 1, 0, (1, 1)),    # 1 x 6 map, K = 1, two chunks
             ("bp", 1, 8, 4, 3, 5, 3, 1, 1, (3, 1)),    # BP, 3 x 5, K = 3, P = 1, two chunks
             ("fp", 5, 4, 8, 1, 1, 1, 1, 0, (1, 1)))    # folded FC, B = 5, two chunks

    async def body(self) -> None:
        from tb.top_uvm.items import LayerItem, ProgramItem
        from tb.top_uvm.sequences import ItemsSeq

        items = []
        for i, (phase, b, m, n, h, w, k, s, p, t) in enumerate(self.CASES):
            li = LayerItem(f"hazard{i}")
            li.phase, li.shape_class, li.seed, li.tiling = phase, "chunks", 1000 + i, t
            li.b, li.m, li.n, li.h, li.w, li.k, li.s, li.p = b, m, n, h, w, k, s, p
            item = ProgramItem(f"hazard{i}")
            item.layers = [li]
            items.append(item)
        await self.seq(ItemsSeq, "hazard", items=items).start(self.env.seqr)


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class AbortHangTest(TopTest):
    """A soft reset while the storer waits for an unload response, then a legal program: the
    legal program must complete bit-exact; today it hangs (the driver's timeout fails the test)."""

    async def body(self) -> None:
        from tb.top_uvm.items import LayerItem, ProgramItem
        from tb.top_uvm.sequences import ItemsSeq, random_program

        tb = self.tb
        tb.waive_storer_hang = False
        caught = False
        for attempt in range(20):
            li = LayerItem("store_heavy")
            li.phase, li.shape_class, li.seed, li.tiling = "fp", "row_tiles", 77 + attempt, (2, 1)
            li.b, li.m, li.n, li.h, li.w, li.k, li.s, li.p = 2, 8, 4, 8, 8, 3, 1, 1
            item = ProgramItem(f"abort{attempt}")
            item.layers = [li]
            item.latency = 20
            item.soft_reset_at = 150 + 37 * attempt
            item.soft_reset_gate = lambda dut: int(dut.u_storer.rs_out.value) != 0
            await self.seq(ItemsSeq, f"abort{attempt}", items=[item]).start(self.env.seqr)
            if int(tb.dut.u_storer.rs_junk.value):
                caught = True
                self.logger.warning("attempt %d: soft reset at +%d left u_storer.rs_junk = %d", attempt,
                                    item.run_cycles, int(tb.dut.u_storer.rs_junk.value))
                break
        self.logger.info("storer left with junk to drop: %s", caught)
        clean = random_program(self.rng, self.cfg, "after_abort", 1, max_macs=4_000, garbage=0.0)
        clean.max_cycles = 50_000
        await self.seq(ItemsSeq, "after_abort", items=[clean]).start(self.env.seqr)


class Corruption:
    """A monitor hook that overwrites one DRAM word once, after the run and before the sample."""

    def __init__(self, addr: int, value: int) -> None:
        self.addr = addr
        self.value = value
        self.serial = 0          # the program it corrupted (the monitor's serial)

    def __call__(self, monitor: Any) -> None:
        monitor.tb.dram.write_words(self.addr, [self.value])
        self.serial = monitor.serial
        monitor.hooks.remove(self)


@pyuvm.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
class ErrorInjectionTest(TopTest):
    """Corrupt one output word after the run: the scoreboard must report exactly that word."""

    async def body(self) -> None:
        import numpy as np

        from tb.top_uvm.env import Mismatch
        from tb.top_uvm.items import Mutation, ProgramItem, random_layer
        from tb.top_uvm.sequences import ItemsSeq, random_program

        tb, mon, sb = self.tb, self.env.monitor, self.env.scoreboard
        expected: list[Mismatch] = []
        for kind in ("element", "padding"):
            item = ProgramItem(f"inject_{kind}")
            li = random_layer(self.rng, self.cfg, "fp", "lanes_partial", max_macs=4_000, special=0.0)
            item.layers = [li]
            stim = item.stimulus(self.cfg, tb.window)
            ls = stim.layers[0]
            data = np.asarray(ls.layout.pack(np.ones(ls.out_shape, np.float32))).view(np.uint32) != 0
            off = int(self.rng.choice(np.flatnonzero(data == (kind == "element"))))
            want = int(np.asarray(ls.layout.pack(li.golden(self.cfg, ls.inputs)),
                                  np.float32).view(np.uint32)[off])
            hook = Corruption(ls.out.addr + 4 * off, want ^ 0x0040_0001)
            mon.hooks.append(hook)
            await self.seq(ItemsSeq, f"inject_{kind}", items=[item]).start(self.env.seqr)
            assert hook.serial, f"{tb.tag} the corruption hook never ran"
            expected.append(Mismatch(hook.serial, 0, ls.out.name, off, hook.addr, hook.value, want,
                                     kind == "element"))
            self.logger.info("injected %s", expected[-1])
        # Two more: an input word changed after a legal run, and an output word written after an
        # illegal descriptor (nothing may change): both must be reported as stray changes.
        stray: dict[int, str] = {}
        for kind in ("input", "illegal"):
            item = random_program(self.rng, self.cfg, f"inject_{kind}", 1, max_macs=4_000, garbage=0.0)
            if kind == "illegal":
                item.layers[0].mutation = Mutation("zero_dim", self.rng.getrandbits(32))
            stim = item.stimulus(self.cfg, tb.window)
            ls = stim.layers[0]
            region = ls.regions["x" if ls.item.phase != "bp" else "dy"] if kind == "input" else ls.out
            hook = Corruption(region.addr + 4 * self.rng.randrange(region.data.size), 0x7F80_0001)
            mon.hooks.append(hook)
            await self.seq(ItemsSeq, f"inject_{kind}", items=[item]).start(self.env.seqr)
            stray[hook.serial] = "bytes changed outside the outputs that may change"
        sb.acknowledge(expected, stray)
        # The scoreboard is clean again: a correct program passes.
        clean = random_program(self.rng, self.cfg, "clean", 2, max_macs=6_000)
        await self.seq(ItemsSeq, "clean", items=[clean]).start(self.env.seqr)
        assert not sb.errors and not sb.mismatches, f"{tb.tag} {sb.errors[:3]}"
