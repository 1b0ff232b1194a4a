"""Tests of the AXI4 DMA master (rtl/axi_dma.sv) with cocotbext-axi's RAM model behind it.

The pytest functions build ONE model (``build/axi_dma/tb/model``): the wrapper tb/axi_dma/axi_dma_tb.sv
holds one axi_dma instance per configuration (a Verilator build costs far more than these runs), and
each cocotb test of this module runs in its own simulation against one instance; the cocotb tests
live below, in the same file. The DRAM is tb/common/dram.py (cocotbext-axi's AxiRam with a
pipelined read latency, fault regions, a traffic log and random pauses); the streams are
cocotbext-axi stream models with pause generators.

Configurations (``CONFIGS``, instance g_dma[i] of the wrapper)
    w128  the presets' bus (HwConfig.bus_bits = 128), 40-bit addresses, 256-beat bursts, 8 outstanding
    w32   32-bit bus, 64-bit addresses, 4 outstanding, a command queue of 2
    w64   64-bit bus, 32-bit addresses, 16-beat bursts, 2 outstanding (many bursts per transfer)

cocotb tests (one simulation each, per configuration)
    random      random reads and writes: word-aligned starts and ends anywhere in a beat, 1 word to
                several 4 KiB pages (> 256 beats), random read latency, random pauses on all five AXI
                channels, random idle/back-pressure on the command, data and done streams. Checks:
                words read == memory, stream beat format (packed, keep, last); memory after the writes
                == a model of the whole write area (nothing outside a range changes; the garbage put
                in unused lanes of the last input beat never lands); every AR/AW == the expected burst
                split (<= MAX_BURST beats, no 4 KiB crossing, first burst at the command address);
                AXI attributes; counters == the monitored beats and bursts.
    window      ZERO_LENGTH / MISALIGNED / OUT_OF_WINDOW (below, straddling, past the limit, wrapping
                the address space, zero length before misalignment): status, reported address, one
                marker beat per rejected read, no data taken for a rejected write, not a single AXI
                transaction and the counters still at zero; then exact window edges, and rejected and
                good commands interleaved (in-order completion, bursts only for the good ones).
    axi_errors  SLVERR / DECERR regions on reads and writes: status and address of the first failing
                beat / burst, the read stream's end marker after a correct prefix, bursts stop early,
                every response is drained, and the commands queued behind complete correctly.
    soft_reset  soft_reset at random moments of long queued transfers under random stress (some
                with an error region, so the reset may hit an error drain): legal
                drain (R beats == AR beats, W beats == AW beats with wlast at burst ends, one B per
                AW), nothing outside the command ranges changes, each word inside is the old value or
                a written one, counters match, and the next commands work.
    throughput  no pauses: a long read, a long write and back-to-back commands finish within a tight
                cycle bound (no bubbles between bursts or commands); then under stress a per-cycle
                sampler checks the stall counters and the outstanding-read limit.

Static checks: ``verilator --lint-only -Wall`` for the three configurations and two corners (512 bits,
one outstanding burst, MAX_BURST 1; 256 bits, odd MAX_OUTSTANDING, LEN_W 12, queue of 8); Yosys
parse/proc in the quick tier, full ``synth_xilinx -family xcup`` (prints LUT/FF) in the slow tier.

Environment: ``AXI_DMA_SEED`` fixes the random seed (printed in every failure message); ``WAVES=1``
builds a traced model (tb/common/sim.py).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi.stream import define_stream

from tb.common import sim
from tb.common.dram import RESP_DECERR, RESP_SLVERR, Dram, Traffic, set_pause

HERE = Path(__file__).resolve().parent
RTL_MODULES = ("axi_dma_check", "axi_dma_rd", "axi_dma_wr", "axi_dma")
TEST_MODULE = "tb.axi_dma.test_axi_dma"

CONFIGS: dict[str, dict[str, int]] = {
    "w128": {"DATA_W": 0, "ADDR_W": 40, "MAX_BURST": 256, "MAX_OUTSTANDING": 8, "QUEUE_DEPTH": 4},
    "w32": {"DATA_W": 32, "ADDR_W": 64, "MAX_BURST": 256, "MAX_OUTSTANDING": 4, "QUEUE_DEPTH": 2},
    "w64": {"DATA_W": 64, "ADDR_W": 32, "MAX_BURST": 16, "MAX_OUTSTANDING": 2, "QUEUE_DEPTH": 4},
}
TESTS = ("random", "window", "axi_errors", "soft_reset", "throughput")

# Parameter sets for lint only (corners the simulations do not cover).
LINT_CORNERS: dict[str, dict[str, int]] = {
    "w512-min": {"DATA_W": 512, "MAX_OUTSTANDING": 1, "QUEUE_DEPTH": 2, "MAX_BURST": 1},
    "w256-odd": {"DATA_W": 256, "LEN_W": 12, "MAX_OUTSTANDING": 3, "QUEUE_DEPTH": 8, "ID_W": 1},
}


# =================================================================================================
# pytest side
# =================================================================================================

def _params(cfg: str) -> dict[str, int]:
    from eftrain.config import preset  # the one source of the bus width (kept out of the simulator)

    params = {**CONFIGS[cfg]}
    if not params["DATA_W"]:
        params["DATA_W"] = preset("ci").bus_bits
    return params


def _build() -> sim.Model:
    """One model for all configurations: tb/axi_dma/axi_dma_tb.sv, instance g = CONFIGS[g]."""
    params = {}
    for g, cfg in enumerate(CONFIGS):
        p = _params(cfg)
        for name in ("DATA_W", "ADDR_W", "MAX_BURST", "MAX_OUTSTANDING", "QUEUE_DEPTH"):
            params[f"D{g}_{name}"] = p[name]
    return sim.build(
        toplevel="axi_dma_tb",
        sources=[*sim.rtl_sources(*RTL_MODULES), HERE / "axi_dma_tb.sv"],
        tag="axi_dma",
        unit="tb",
        parameters=params,
    )


def _seed() -> int:
    env = os.environ.get("AXI_DMA_SEED")
    return int(env, 0) if env else secrets.randbits(32)


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_axi_dma(cfg: str, test: str) -> None:
    model = _build()
    seed = _seed()
    work = sim.run_dir(model, f"{cfg}-{test}")
    env = {"AXI_DMA_SEED": str(seed), "AXI_DMA_INST": str(list(CONFIGS).index(cfg)),
           "AXI_DMA_PARAMS": json.dumps(_params(cfg))}
    try:
        sim.run(model, test_module=TEST_MODULE, directory=work, testcase=f"dma_{test}", extra_env=env,
                seed=seed & 0x7FFFFFFF)
    except sim.SimulationError as exc:
        raise AssertionError(f"[axi_dma {cfg} {test}, AXI_DMA_SEED={seed:#x}] {exc}") from None


@pytest.mark.parametrize("name", [*CONFIGS, *LINT_CORNERS])
def test_verilator_lint_clean(name: str) -> None:
    params = _params(name) if name in CONFIGS else LINT_CORNERS[name]
    root = sim.setup_verilator()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module", "axi_dma",
           *(f"-G{k}={v}" for k, v in params.items()), *map(str, sim.rtl_sources(*RTL_MODULES))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


def _yosys(script: str, log: Path) -> str:
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install -y yosys)")
    out = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return log.read_text()


def _read_rtl() -> str:
    return "read_verilog -sv " + " ".join(map(str, sim.rtl_sources(*RTL_MODULES)))


def test_yosys_parses(tmp_path: Path) -> None:
    text = _yosys(f"{_read_rtl()}; hierarchy -check -top axi_dma; proc; check -assert",
                  tmp_path / "yosys.log")
    assert "Latch inferred" not in text


@pytest.mark.slow
def test_yosys_synth_xilinx(tmp_path: Path) -> None:
    """Full synth_xilinx at the defaults (DATA_W = 128); prints the resource counts."""
    text = _yosys(f"{_read_rtl()}; synth_xilinx -family xcup -top axi_dma; stat",
                  tmp_path / "yosys.log")
    stat = text.rsplit("=== design hierarchy ===", 1)[-1]
    print(stat)
    assert "FDRE" in stat


# =================================================================================================
# Simulator side: DRAM model, stream models, the TB and the cocotb tests
# =================================================================================================

CLK_NS = 10

ST_OK, ST_ZERO_LENGTH, ST_MISALIGNED, ST_OUT_OF_WINDOW, ST_SLVERR, ST_DECERR = range(6)

DmaCmdBus, DmaCmdTransaction, DmaCmdSource, _, _ = define_stream(
    "DmaCmd", signals=["valid", "ready", "addr", "len"])
RdsBus, _, _, RdsSink, _ = define_stream(
    "Rds", signals=["valid", "ready", "data", "keep", "last", "err"])
WrsBus, WrsTransaction, WrsSource, _, _ = define_stream("Wrs", signals=["valid", "ready", "data"])
DoneBus, _, _, DoneSink, _ = define_stream("DmaDone", signals=["valid", "ready", "status", "addr"])


@dataclass
class Cmd:
    """One DMA command and, after the run, what came back."""

    addr: int
    n: int
    data: list[int] = field(default_factory=list)   # write: the words (read: the words received)
    beats: list[tuple[int, int, int]] = field(default_factory=list)   # read: (keep, last, err)
    status: int = -1
    done_addr: int = -1

    def __repr__(self) -> str:
        return f"Cmd(addr={self.addr:#x}, n={self.n}, status={self.status})"


class TB:
    """Clock, reset, the DRAM model and the stream models around one axi_dma instance."""

    def __init__(self, dut: object) -> None:
        self.dut = dut
        inst = int(os.environ.get("AXI_DMA_INST", "0"))
        self.h = h = dut.g_dma[inst]
        self.params = json.loads(os.environ.get("AXI_DMA_PARAMS", "{}"))
        self.seed = int(os.environ.get("AXI_DMA_SEED", "1"), 0)
        self.rng = random.Random(self.seed)
        self.data_w = len(h.rds_data)
        self.addr_w = len(h.rd_cmd_addr)
        self.len_w = len(h.rd_cmd_len)
        self.wpb = self.data_w // 32
        self.bytes = self.data_w // 8
        self.max_burst = int(self.params.get("MAX_BURST", 256))
        self.max_out = int(self.params.get("MAX_OUTSTANDING", 8))
        self.tag = f"AXI_DMA_SEED={self.seed:#x}"
        self.wr_model = bytearray()
        dut._log.info("axi_dma instance %d: DATA_W=%d ADDR_W=%d params=%s %s", inst, self.data_w,
                      self.addr_w, self.params, self.tag)

        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.dram = Dram(h, dut.clk, self.addr_w, latency=self.rng.randint(1, 40), clk_ns=CLK_NS)
        rst = {"reset": dut.rst_n, "reset_active_level": False}
        self.rd_cmd = DmaCmdSource(DmaCmdBus.from_prefix(h, "rd_cmd"), dut.clk, **rst)
        self.wr_cmd = DmaCmdSource(DmaCmdBus.from_prefix(h, "wr_cmd"), dut.clk, **rst)
        self.rds = RdsSink(RdsBus.from_prefix(h, "rds"), dut.clk, **rst)
        self.wrs = WrsSource(WrsBus.from_prefix(h, "wrs"), dut.clk, **rst)
        self.rd_done = DoneSink(DoneBus.from_prefix(h, "rd_done"), dut.clk, **rst)
        self.wr_done = DoneSink(DoneBus.from_prefix(h, "wr_done"), dut.clk, **rst)

        # The address map of a test: a 512 KiB window high in the address space; reads from its
        # first half (static contents), writes into its second half (checked against a model).
        top = 1 << self.addr_w
        self.win_base = (top - (1 << 26)) + self.rng.randrange(0, 1 << 20, 4096) + 64
        self.win_limit = self.win_base + (1 << 19)
        self.rd_area = (self.win_base, self.win_base + (1 << 18))
        self.wr_area = (self.win_base + (1 << 18), self.win_limit)

    # ---------------------------------------------------------------------------------------------
    def state(self) -> str:
        """The DMA's internal state (for hang reports)."""
        h = self.h
        names = {"u_rd": ["ab_mode", "c_valid", "tq_wp", "ar_p", "r_p", "rq_wp", "rq_rp", "r_beat",
                          "r_bcnt", "r_err", "r_flush", "ag_started", "k_valid"],
                 "u_wr": ["ab_mode", "c_valid", "tq_wp", "aw_p", "w_p", "b_p", "wq_wp", "w_rp",
                          "b_rp", "wb", "in_cnt", "w_bcnt", "b_err", "ag_started", "k_valid"]}
        parts = []
        for unit, sigs in names.items():
            u = getattr(h.u_dma, unit)
            parts.append(unit + ": " + " ".join(f"{s}={int(getattr(u, s).value)}" for s in sigs))
        top = ["m_axi_arvalid", "m_axi_arready", "m_axi_rvalid", "m_axi_rready", "m_axi_awvalid",
               "m_axi_awready", "m_axi_wvalid", "m_axi_wready", "m_axi_bvalid", "m_axi_bready",
               "rds_valid", "rds_ready", "wrs_valid", "wrs_ready", "rd_done_valid", "wr_done_valid"]
        parts.append(" ".join(f"{s}={int(getattr(h, s).value)}" for s in top))
        return "; ".join(parts)

    async def bounded(self, coro: object, budget: int, what: str) -> None:
        try:
            await with_timeout(coro, budget * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: no progress in {budget} cycles; {self.state()} "
                                 f"[{self.tag}]") from None

    async def reset(self) -> None:
        h, clk = self.h, self.dut.clk
        self.dut.rst_n.value = 0
        h.soft_reset.value = 0
        h.cnt_clear.value = 0
        h.win_base.value = self.win_base
        h.win_limit.value = self.win_limit
        await ClockCycles(clk, 5)
        self.dut.rst_n.value = 1
        await ClockCycles(clk, 2)
        for lo, hi in (self.rd_area, self.wr_area):
            self.dram.write(lo, self.rng.randbytes(hi - lo))
        self.wr_model = bytearray(self.dram.read(self.wr_area[0], self.wr_area[1] - self.wr_area[0]))

    def stress(self, level: float) -> None:
        """Random pauses on every AXI channel and stream (``level`` ~ pause probability), and a
        random read latency."""
        r = self.rng
        self.dram.pause(r, level)
        for ch in (self.rd_cmd, self.wr_cmd, self.rds, self.wrs, self.rd_done, self.wr_done):
            set_pause(ch, r, level * r.choice([0.0, 0.5, 1.0, 1.5]))
        self.dram.latency = r.choice([1, 2, 8, 30, 60]) if level > 0 else r.randint(1, 40)

    async def clear_counters(self) -> None:
        self.h.cnt_clear.value = 1
        await RisingEdge(self.dut.clk)
        self.h.cnt_clear.value = 0
        self.dram.take()

    async def idle(self, budget: int = 200_000) -> None:
        """Wait until both halves are idle (bounded: a hang fails the test)."""
        h, clk = self.h, self.dut.clk

        async def wait_idle() -> None:
            quiet = 0
            while quiet < 4:
                await RisingEdge(clk)
                quiet = quiet + 1 if not (int(h.rd_busy.value) or int(h.wr_busy.value)) else 0

        await self.bounded(wait_idle(), budget, "waiting for idle")

    # ---------------------------------------------------------------------------------------------
    # Commands and streams
    # ---------------------------------------------------------------------------------------------
    def pack(self, words: list[int]) -> list[int]:
        """Pack words into stream beats; lanes past the end carry random garbage."""
        beats = []
        for i in range(0, len(words), self.wpb):
            chunk = words[i:i + self.wpb]
            chunk = chunk + [self.rng.getrandbits(32) for _ in range(self.wpb - len(chunk))]
            beats.append(sum(w << (32 * j) for j, w in enumerate(chunk)))
        return beats

    async def run_reads(self, cmds: list[Cmd], budget: int = 400_000) -> None:
        """Issue read commands back to back; fill in the words, beat format and status of each."""
        for c in cmds:
            await self.rd_cmd.send(DmaCmdTransaction(addr=c.addr, len=c.n))

        async def collect() -> None:
            for c in cmds:
                while True:
                    t = await self.rds.recv()
                    keep, last, err = int(t.keep), int(t.last), int(t.err)
                    data = int(t.data)
                    c.beats.append((keep, last, err))
                    c.data.extend(data >> (32 * j) & 0xFFFFFFFF for j in range(self.wpb)
                                  if keep >> j & 1)
                    if last:
                        break
                d = await self.rd_done.recv()
                c.status, c.done_addr = int(d.status), int(d.addr)

        await self.bounded(collect(), budget, f"reads {cmds}")

    async def run_writes(self, cmds: list[Cmd], budget: int = 400_000,
                         rejected: tuple[int, ...] = ()) -> None:
        """Issue write commands and their data; the ``rejected`` indexes get no data."""
        async def feed() -> None:
            for i, c in enumerate(cmds):
                if i not in rejected:
                    for beat in self.pack(c.data):
                        await self.wrs.send(WrsTransaction(data=beat))

        feeder = cocotb.start_soon(feed())
        for c in cmds:
            await self.wr_cmd.send(DmaCmdTransaction(addr=c.addr, len=c.n))

        async def collect() -> None:
            for c in cmds:
                d = await self.wr_done.recv()
                c.status, c.done_addr = int(d.status), int(d.addr)
            await feeder

        await self.bounded(collect(), budget, f"writes {cmds}")

    async def run_both(self, reads: list[Cmd], writes: list[Cmd], **kw: object) -> None:
        rd = cocotb.start_soon(self.run_reads(reads))
        wr = cocotb.start_soon(self.run_writes(writes, **kw))
        await rd
        await wr

    # ---------------------------------------------------------------------------------------------
    # Expectations and checks
    # ---------------------------------------------------------------------------------------------
    def bursts(self, addr: int, n: int) -> list[tuple[int, int]]:
        """The expected (address, beats) split of a transfer."""
        nb = self.bytes
        beats = (addr + 4 * n - 1) // nb - addr // nb + 1
        out, cur = [], addr
        while beats:
            base = cur - cur % nb
            k = min(beats, self.max_burst, (4096 - base % 4096) // nb)
            out.append((cur, k))
            cur, beats = base + k * nb, beats - k
        return out

    def check_bus(self, log: Traffic, what: str) -> None:
        """AXI attributes, burst legality, and completeness of the traffic of ``log``."""
        tag = f"{what} [{self.tag}]"
        size = self.bytes.bit_length() - 1
        assert log.attrs <= {(0, size, 1, 0, 0b0011, 0, 0)}, f"{tag}: AXI attributes {log.attrs}"
        for p, seen in (("AR", log.ar), ("AW", log.aw)):
            for addr, beats in seen:
                base = addr - addr % self.bytes
                assert addr % 4 == 0 and beats <= self.max_burst, f"{tag}: {p} {addr:#x}/{beats}"
                assert base % 4096 + beats * self.bytes <= 4096, (
                    f"{tag}: {p} {addr:#x}/{beats} crosses a 4 KiB boundary")
        assert log.r_beats == sum(k for _, k in log.ar), f"{tag}: R beats != AR beats"
        want_last = [int(i == k - 1) for _, k in log.aw for i in range(k)]
        assert log.w_last == want_last, f"{tag}: W beats/wlast do not match the AW bursts"
        assert log.b_count == len(log.aw), f"{tag}: {log.b_count} B for {len(log.aw)} AW"

    async def check_counters(self, log: Traffic) -> None:
        await RisingEdge(self.dut.clk)
        h = self.h
        got = {k: int(getattr(h, f"cnt_{k}").value) for k in
               ("rd_beats", "wr_beats", "rd_bursts", "wr_bursts")}
        want = {"rd_beats": log.r_beats, "wr_beats": len(log.w_last), "rd_bursts": len(log.ar),
                "wr_bursts": len(log.aw)}
        assert got == want, f"counters {got} != observed {want} [{self.tag}]"

    def check_read(self, c: Cmd, what: str = "") -> None:
        tag = f"read {c!r} {what} [{self.tag}]"
        assert c.status == ST_OK and c.done_addr == 0, f"{tag}: done {c.status}/{c.done_addr:#x}"
        want = self.dram.words(c.addr, c.n)
        assert c.data == want, f"{tag}: {_first_diff(c.data, want)}"
        nbeats = -(-c.n // self.wpb)
        last_words = c.n - (nbeats - 1) * self.wpb
        full = (1 << self.wpb) - 1
        fmt = [(full, 0, 0)] * (nbeats - 1) + [((1 << last_words) - 1, 1, 0)]
        assert c.beats == fmt, f"{tag}: beat format {c.beats[:4]}...{c.beats[-2:]} != {fmt[-2:]}"

    def apply_write(self, c: Cmd) -> None:
        off = c.addr - self.wr_area[0]
        self.wr_model[off:off + 4 * c.n] = b"".join(w.to_bytes(4, "little") for w in c.data)

    def check_write_area(self, what: str = "", dont_care: list[tuple[int, int]] | None = None) -> None:
        """The whole write area equals the model (except the ``dont_care`` ranges)."""
        got = bytearray(self.dram.read(self.wr_area[0], len(self.wr_model)))
        want = bytearray(self.wr_model)
        for lo, hi in dont_care or []:
            a, b = lo - self.wr_area[0], hi - self.wr_area[0]
            got[a:b] = want[a:b] = bytes(b - a)
        if got != want:
            idx = next(i for i in range(len(got)) if got[i] != want[i])
            raise AssertionError(
                f"write area differs from the model {what} first at {self.wr_area[0] + idx:#x}: "
                f"{got[idx]:#04x} != {want[idx]:#04x} [{self.tag}]")

    def check_bursts(self, seen: list[tuple[int, int]], cmds: list[Cmd], p: str) -> None:
        want = [x for c in cmds for x in self.bursts(c.addr, c.n)]
        assert seen == want, (f"{p} bursts differ: {_first_diff(seen, want)} ({len(seen)} vs "
                              f"{len(want)}) [{self.tag}]")

    # ---------------------------------------------------------------------------------------------
    # Random commands
    # ---------------------------------------------------------------------------------------------
    def rand_len(self) -> int:
        r = self.rng
        kind = r.random()
        if kind < 0.25:
            return r.randint(1, 2 * self.wpb + 1)
        if kind < 0.65:
            return r.randint(1, 300)
        if kind < 0.9:
            return r.randint(300, 1100)
        return r.randint(1024, 3000)

    def rand_cmd(self, area: tuple[int, int], n: int | None = None) -> Cmd:
        n = self.rand_len() if n is None else n
        lo, hi = area
        n = min(n, (hi - lo) // 4 - 64)
        addr = lo + 4 * self.rng.randrange(0, (hi - lo - 4 * n) // 4)
        if self.rng.random() < 0.15:   # start on a 4 KiB boundary or just before one
            page = (addr // 4096 + 1) * 4096 - 4 * self.rng.randint(0, 3)
            if page + 4 * n <= hi:
                addr = page
        return Cmd(addr, n)

    def rand_write(self, area: tuple[int, int] | None = None, n: int | None = None) -> Cmd:
        c = self.rand_cmd(area or self.wr_area, n)
        c.data = [self.rng.getrandbits(32) for _ in range(c.n)]
        return c


def _first_diff(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at {i}: {x!r} != {y!r}"
    return f"lengths {len(a)} != {len(b)}"


def _matched_prefix(seen: list[tuple[int, int]], pos: int, want: list[tuple[int, int]]) -> int:
    k = 0
    while k < len(want) and pos + k < len(seen) and seen[pos + k] == want[k]:
        k += 1
    return k


async def _start(dut: object) -> TB:
    tb = TB(dut)
    await tb.reset()
    return tb


# -------------------------------------------------------------------------------------------------
# cocotb tests
# -------------------------------------------------------------------------------------------------

@cocotb.test()
async def dma_random(dut: object) -> None:
    """Random reads and writes under random latency and pauses; data, bursts, counters."""
    tb = await _start(dut)
    for phase, level in enumerate([0.0, 0.4, 0.1]):
        tb.stress(level)
        await tb.clear_counters()
        # Each phase has one long transfer per direction (> 256 beats, several 4 KiB pages).
        long_n = max(1024, 256 * tb.wpb) + tb.rng.randint(1, 2000)
        reads = [tb.rand_cmd(tb.rd_area) for _ in range(tb.rng.randint(4, 8))]
        writes = [tb.rand_write() for _ in range(tb.rng.randint(4, 8))]
        reads.insert(tb.rng.randint(0, len(reads)), tb.rand_cmd(tb.rd_area, long_n))
        writes.insert(tb.rng.randint(0, len(writes)), tb.rand_write(n=long_n))
        await tb.run_both(reads, writes)
        await tb.idle()
        for i, c in enumerate(reads):
            tb.check_read(c, f"#{i} phase {phase}")
        for i, c in enumerate(writes):
            assert (c.status, c.done_addr) == (ST_OK, 0), f"write #{i} {c!r} [{tb.tag}]"
            tb.apply_write(c)
        tb.check_write_area(f"after phase {phase}")
        log = tb.dram.take()
        tb.check_bus(log, f"phase {phase}")
        tb.check_bursts(log.ar, reads, "AR")
        tb.check_bursts(log.aw, writes, "AW")
        await tb.check_counters(log)
        dut._log.info("phase %d (stress %.2f): %d reads, %d writes, %d R / %d W beats", phase,
                      level, len(reads), len(writes), log.r_beats, len(log.w_last))


@cocotb.test()
async def dma_window(dut: object) -> None:
    """Rejected commands: status, address, read marker, no data taken, no AXI transaction."""
    tb = await _start(dut)
    tb.stress(0.1)
    h = tb.h
    base, limit, top = tb.win_base, tb.win_limit, 1 << tb.addr_w
    maxlen = (1 << tb.len_w) - 1
    bad = [
        (base, 0, ST_ZERO_LENGTH),
        (base + 2, 0, ST_ZERO_LENGTH),              # zero length wins over misalignment
        (base + 1, 4, ST_MISALIGNED),
        (base + 6, 1, ST_MISALIGNED),
        (base + 3 + 4096, 100, ST_MISALIGNED),
        (base - 4, 1, ST_OUT_OF_WINDOW),            # just below
        (base - 64, 40, ST_OUT_OF_WINDOW),          # straddles the base
        (limit - 16, 5, ST_OUT_OF_WINDOW),          # one word past the limit
        (limit, 1, ST_OUT_OF_WINDOW),
        (limit + 4096, 8, ST_OUT_OF_WINDOW),
        (base, maxlen, ST_OUT_OF_WINDOW),           # huge
        (top - 8, 4, ST_OUT_OF_WINDOW),             # wraps the address space
        (top // 2, maxlen, ST_OUT_OF_WINDOW),       # huge, from mid-space
        (0, 16, ST_OUT_OF_WINDOW),
    ]
    tb.rng.shuffle(bad)
    await tb.clear_counters()
    reads = [Cmd(a, n) for a, n, _ in bad]
    writes = [Cmd(a, n) for a, n, _ in bad]
    await tb.run_both(reads, writes, rejected=tuple(range(len(writes))))
    await tb.idle()
    for cmds, what in ((reads, "read"), (writes, "write")):
        for c, (a, n, st) in zip(cmds, bad, strict=True):
            assert (c.status, c.done_addr) == (st, a), (
                f"{what} {a:#x}/{n}: status {c.status} addr {c.done_addr:#x}, want {st} [{tb.tag}]")
    for c in reads:
        assert c.beats == [(0, 1, 1)] and not c.data, f"read {c!r}: marker {c.beats} [{tb.tag}]"
    assert tb.dram.take().empty(), f"AXI traffic for rejected commands [{tb.tag}]"
    counts = [int(getattr(h, f"cnt_{k}").value) for k in ("rd_beats", "wr_beats", "rd_bursts",
                                                          "wr_bursts")]
    assert counts == [0, 0, 0, 0], f"counters moved: {counts} [{tb.tag}]"

    # Exact window edges are legal; rejected and good commands interleave, completing in order.
    edge_rd = [Cmd(base, 7), Cmd(tb.rd_area[1] - 4 * 9, 9)]
    edge_wr = [Cmd(limit - 4 * 13, 13, [tb.rng.getrandbits(32) for _ in range(13)])]
    for _round in range(2):
        rd_cmds, wr_cmds, rd_want, wr_want, rej = [], [], [], [], []
        for k in range(8):
            if tb.rng.random() < 0.4:
                a, n, st = tb.rng.choice(bad)
                rd_cmds.append(Cmd(a, n))
                rd_want.append((st, a))
                rej.append(len(wr_cmds))
                wr_cmds.append(Cmd(a, n))
                wr_want.append((st, a))
            else:
                rd_cmds.append(edge_rd.pop() if edge_rd else tb.rand_cmd(tb.rd_area))
                rd_want.append((ST_OK, 0))
                wr_cmds.append(edge_wr.pop() if edge_wr and k > 2 else tb.rand_write())
                wr_want.append((ST_OK, 0))
        await tb.run_both(rd_cmds, wr_cmds, rejected=tuple(rej))
        await tb.idle()
        for c, (st, a) in zip(rd_cmds, rd_want, strict=True):
            if st == ST_OK:
                tb.check_read(c, "among rejected ones")
            else:
                assert (c.status, c.done_addr, c.beats) == (st, a, [(0, 1, 1)]), f"{c!r} [{tb.tag}]"
        for i, (c, (st, a)) in enumerate(zip(wr_cmds, wr_want, strict=True)):
            assert (c.status, c.done_addr) == (st, a), f"write #{i} {c!r} want {st} [{tb.tag}]"
            if st == ST_OK:
                tb.apply_write(c)
        tb.check_write_area("after interleaved rejected writes")
        log = tb.dram.take()
        tb.check_bus(log, "interleaved rejected commands")
        tb.check_bursts(log.ar, [c for c, w in zip(rd_cmds, rd_want, strict=True) if w[0] == ST_OK],
                        "AR")
        tb.check_bursts(log.aw, [c for c, w in zip(wr_cmds, wr_want, strict=True) if w[0] == ST_OK],
                        "AW")


@cocotb.test()
async def dma_axi_errors(dut: object) -> None:
    """SLVERR / DECERR on reads and writes: clean abort of that command, the others complete."""
    tb = await _start(dut)
    nb = tb.bytes
    for it in range(3):
        tb.stress(tb.rng.choice([0.0, 0.1, 0.3]))
        tb.dram.faults.clear()
        resp = tb.rng.choice([RESP_SLVERR, RESP_DECERR])
        status = ST_SLVERR if resp == RESP_SLVERR else ST_DECERR
        # Six commands per direction in separate slots; the even ones cross a fault region
        # somewhere after their start (the odd ones are clear of it, by more than a beat).
        reads, writes, faults = [], [], {}
        for area, cmds in ((tb.rd_area, reads), (tb.wr_area, writes)):
            lo, hi = area
            slot = (hi - lo) // 6 // 64 * 64
            for k in range(6):
                s_lo = lo + k * slot
                n = tb.rng.randint(8, 1200 if k < 4 else 2600)
                c = tb.rand_cmd((s_lo + 128, s_lo + slot - 128), n)
                if area is tb.wr_area:
                    c.data = [tb.rng.getrandbits(32) for _ in range(c.n)]
                if k % 2 == 0:
                    idx = tb.rng.randrange(0, c.n)
                    f_lo = c.addr + 4 * idx
                    f_hi = f_lo + 4 * tb.rng.randint(1, min(64, c.n - idx))
                    tb.dram.faults.append((f_lo, f_hi, resp))
                    faults[id(c)] = (f_lo, f_hi)
                cmds.append(c)
        await tb.run_both(reads, writes)
        await tb.idle()
        log = tb.dram.take()
        tb.check_bus(log, f"error iteration {it}")   # every burst completed: R, W, B drained

        # Reads: the bad ones stop at the first failing beat, with a correct prefix and a marker.
        pos = 0
        for c in reads:
            exp = tb.bursts(c.addr, c.n)
            if id(c) not in faults:
                tb.check_read(c, f"(good, iteration {it})")
                assert log.ar[pos:pos + len(exp)] == exp, f"AR of good read {c!r} [{tb.tag}]"
                pos += len(exp)
                continue
            tag = f"bad read {c!r} it {it} [{tb.tag}]"
            f_lo, f_hi = faults[id(c)]
            beat0 = c.addr - c.addr % nb
            fail = next(a for a in range(beat0, c.addr + 4 * c.n, nb) if a < f_hi and f_lo < a + nb)
            assert (c.status, c.done_addr) == (status, fail), (
                f"{tag}: done {c.status}/{c.done_addr:#x}, want {status}/{fail:#x}")
            assert c.beats[-1] == (0, 1, 1), f"{tag}: no end marker {c.beats[-1:]}"
            assert all(bt == ((1 << tb.wpb) - 1, 0, 0) for bt in c.beats[:-1]), f"{tag}: beats"
            assert len(c.data) <= max(0, (fail - c.addr) // 4), f"{tag}: words after the error"
            assert c.data == tb.dram.words(c.addr, len(c.data)), f"{tag}: prefix differs"
            k_seen = _matched_prefix(log.ar, pos, exp)
            need = next(i for i, (a, k) in enumerate(exp) if a - a % nb <= fail < a - a % nb + k * nb)
            assert k_seen >= need + 1, f"{tag}: failing burst never issued"
            pos += k_seen
        assert pos == len(log.ar), f"extra AR bursts {log.ar[pos:pos + 3]} [{tb.tag}]"

        # Writes: the bad ones report the first burst whose written bytes hit the region.
        pos, dont_care = 0, []
        for c in writes:
            exp = tb.bursts(c.addr, c.n)
            if id(c) not in faults:
                assert (c.status, c.done_addr) == (ST_OK, 0), f"good write {c!r} [{tb.tag}]"
                assert log.aw[pos:pos + len(exp)] == exp, f"AW of good write {c!r} [{tb.tag}]"
                tb.apply_write(c)
                pos += len(exp)
                continue
            tag = f"bad write {c!r} it {it} [{tb.tag}]"
            f_lo, f_hi = faults[id(c)]
            end = c.addr + 4 * c.n
            fail = next(a for a, k in exp
                        if max(a, c.addr) < f_hi and f_lo < min(a - a % nb + k * nb, end))
            assert (c.status, c.done_addr) == (status, fail), (
                f"{tag}: done {c.status}/{c.done_addr:#x}, want {status}/{fail:#x}")
            k_seen = _matched_prefix(log.aw, pos, exp)
            assert k_seen >= 1 + next(i for i, (a, _) in enumerate(exp) if a == fail), tag
            pos += k_seen
            dont_care.append((c.addr, end))
        assert pos == len(log.aw), f"extra AW bursts {log.aw[pos:pos + 3]} [{tb.tag}]"
        tb.check_write_area(f"after error iteration {it}", dont_care)
        for lo, hi in dont_care:   # the failed ranges hold whatever landed before the error
            off = lo - tb.wr_area[0]
            tb.wr_model[off:off + hi - lo] = tb.dram.read(lo, hi - lo)

    # The DMA works normally afterwards.
    tb.dram.faults.clear()
    reads = [tb.rand_cmd(tb.rd_area) for _ in range(4)]
    writes = [tb.rand_write() for _ in range(4)]
    await tb.run_both(reads, writes)
    await tb.idle()
    for c in reads:
        tb.check_read(c, "after the error tests")
    for c in writes:
        assert c.status == ST_OK, f"{c!r} after the error tests [{tb.tag}]"
        tb.apply_write(c)
    tb.check_write_area("after the error tests")


@cocotb.test()
async def dma_soft_reset(dut: object) -> None:
    """soft_reset in the middle of long transfers: legal drain, nothing stray, recovery."""
    tb = await _start(dut)
    h, clk = tb.h, tb.dut.clk
    for it in range(5):
        tb.stress(tb.rng.choice([0.0, 0.1, 0.3]))
        await tb.clear_counters()
        old = bytes(tb.wr_model)
        reads = [tb.rand_cmd(tb.rd_area, tb.rng.randint(500, 3000)) for _ in range(3)]
        writes = [tb.rand_write(n=tb.rng.randint(500, 3000)) for _ in range(3)]
        tb.dram.faults.clear()
        if it % 2:   # the soft reset may also hit an error drain
            resp = tb.rng.choice([RESP_SLVERR, RESP_DECERR])
            for c in (reads[0], writes[0]):
                f_lo = c.addr + 4 * tb.rng.randrange(0, c.n // 4)
                tb.dram.faults.append((f_lo, f_lo + 4 * tb.rng.randint(1, 32), resp))
        for c in reads:
            tb.rd_cmd.send_nowait(DmaCmdTransaction(addr=c.addr, len=c.n))
        for c in writes:
            tb.wr_cmd.send_nowait(DmaCmdTransaction(addr=c.addr, len=c.n))
            for beat in tb.pack(c.data):
                tb.wrs.send_nowait(WrsTransaction(data=beat))
        delay = tb.rng.choice([0, 1, 3, 20, 100, 300, tb.rng.randint(0, 1500)])
        await ClockCycles(clk, delay)
        h.soft_reset.value = 1
        # The producer / consumer side resets with the DMA (as the controller would).
        for src in (tb.rd_cmd, tb.wr_cmd, tb.wrs):
            src.clear()
            src.assert_reset()
        await ClockCycles(clk, tb.rng.randint(1, 3))
        h.soft_reset.value = 0
        await tb.idle()
        for snk in (tb.rds, tb.rd_done, tb.wr_done):
            snk.clear()
        log = tb.dram.take()
        tb.check_bus(log, f"soft reset {it} after {delay} cycles")   # the drain was complete
        await tb.check_counters(log)
        # Bursts: a prefix of each command's expected split, command by command.
        for seen, cmds, p in ((log.ar, reads, "AR"), (log.aw, writes, "AW")):
            pos = 0
            for c in cmds:
                pos += _matched_prefix(seen, pos, tb.bursts(c.addr, c.n))
            assert pos == len(seen), f"{p} bursts not a prefix of the commands' [{tb.tag}]"
        # Memory: outside the write ranges nothing changed; inside, each word is the old value or
        # the one a command (they may overlap) writes there.
        now = tb.dram.read(tb.wr_area[0], len(old))
        allowed: dict[int, set[bytes]] = {}
        for c in writes:
            off = c.addr - tb.wr_area[0]
            for k in range(c.n):
                allowed.setdefault(off + 4 * k, {old[off + 4 * k:off + 4 * k + 4]}).add(
                    c.data[k].to_bytes(4, "little"))
        for o in range(0, len(old), 4):
            word = now[o:o + 4]
            if word not in allowed.get(o, {old[o:o + 4]}):
                raise AssertionError(
                    f"soft reset {it}: {tb.wr_area[0] + o:#x} holds {word.hex()}, neither the old "
                    f"value nor a written one [{tb.tag}]")
        tb.wr_model[:] = now
        dut._log.info("soft reset %d after %d cycles: %d AR / %d AW issued", it, delay,
                      len(log.ar), len(log.aw))

        # Recovery.
        tb.dram.faults.clear()
        reads = [tb.rand_cmd(tb.rd_area) for _ in range(2)]
        writes = [tb.rand_write() for _ in range(2)]
        await tb.run_both(reads, writes)
        await tb.idle()
        for c in reads:
            tb.check_read(c, f"after soft reset {it}")
        for c in writes:
            assert c.status == ST_OK, f"{c!r} after soft reset {it} [{tb.tag}]"
            tb.apply_write(c)
        tb.check_write_area(f"after soft reset {it}")
        tb.dram.take()


async def _sample(tb: TB, stop: list[bool], out: dict[str, int]) -> None:
    """Per-cycle sampler: the stall counters' definitions and the outstanding-read limit."""
    h, clk = tb.h, tb.dut.clk
    inflight = 0
    while not stop[0]:
        await RisingEdge(clk)
        rv, rr = int(h.m_axi_rvalid.value), int(h.m_axi_rready.value)
        if rr and not rv and inflight:
            out["rd_stall"] += 1
        if int(h.m_axi_wvalid.value) and not int(h.m_axi_wready.value):
            out["wr_stall"] += 1
        if int(h.m_axi_arvalid.value) and int(h.m_axi_arready.value):
            inflight += 1
        if rv and rr and int(h.m_axi_rlast.value):
            inflight -= 1
        out["max_inflight"] = max(out["max_inflight"], inflight)


@cocotb.test()
async def dma_throughput(dut: object) -> None:
    """No bubbles without pauses (cycle bounds); stall counters and the outstanding limit."""
    tb = await _start(dut)
    h = tb.h
    tb.stress(0.0)
    # A latency the outstanding reads cover: (MAX_OUTSTANDING - 1) full bursts stay in flight
    # while a finished burst's successor goes out and its first beat comes back.
    lat = max(1, min(20, (tb.max_out - 1) * tb.max_burst - 6))
    tb.dram.latency = lat

    async def timed(reads: list[Cmd], writes: list[Cmd]) -> int:
        t0 = get_sim_time("ns")
        await tb.run_both(reads, writes)
        return round((get_sim_time("ns") - t0) / CLK_NS)

    def beats(cmds: list[Cmd]) -> int:
        return sum(k for c in cmds for _, k in tb.bursts(c.addr, c.n))

    results = []
    rd_page = (tb.rd_area[0] + 4095) // 4096 * 4096   # 4 KiB-aligned bases (the areas are not)
    wr_page = (tb.wr_area[0] + 4095) // 4096 * 4096
    # One long read (aligned and not), then one long write, each alone on the bus.
    for off in (0, 4 * (tb.wpb - 1), 4):
        c = Cmd(rd_page + 8192 + off, 1500 + tb.wpb * 64 - 1)
        cyc, nb = await timed([c], []), beats([c])
        tb.check_read(c)
        results.append(f"read {c.n} words @+{off}: {cyc} cycles / {nb} beats")
        assert cyc <= nb + lat + 12, f"read {c!r}: {cyc} cycles, {nb} beats, latency {lat} [{tb.tag}]"
    for off in (0, 4):
        c = tb.rand_write(n=1500)
        c.addr = wr_page + 8192 + off
        cyc, nb = await timed([], [c]), beats([c])
        tb.apply_write(c)
        results.append(f"write {c.n} words @+{off}: {cyc} cycles / {nb} beats")
        assert cyc <= nb + 16, f"write {c!r}: {cyc} cycles for {nb} beats [{tb.tag}]"
    # Back-to-back commands: the next command's bursts follow without a gap. Whole bursts
    # (n a multiple of 16 beats): a short last burst would expose the outstanding limit instead.
    n = 16 * tb.wpb * max(1, 320 // (16 * tb.wpb))
    reads = [Cmd(rd_page + 4 * k * n, n) for k in range(8)]
    writes = [tb.rand_write(n=n) for _ in range(8)]
    for k, c in enumerate(writes):
        c.addr = wr_page + 4 * k * n
    cyc, nb = await timed(reads, []), beats(reads)
    results.append(f"8 reads x {n} words: {cyc} cycles / {nb} beats")
    assert cyc <= nb + lat + 12, f"8 back-to-back reads: {cyc} cycles for {nb} beats [{tb.tag}]"
    cyc, nb = await timed([], writes), beats(writes)
    results.append(f"8 writes x {n} words: {cyc} cycles / {nb} beats")
    assert cyc <= nb + 16, f"8 back-to-back writes: {cyc} cycles for {nb} beats [{tb.tag}]"
    for c in reads:
        tb.check_read(c)
    for c in writes:
        tb.apply_write(c)
    tb.check_write_area("after the throughput runs")
    tb.check_bus(tb.dram.take(), "throughput runs")
    dut._log.info("throughput (read latency %d): %s", lat, "; ".join(results))

    # Stall counters under stress, against a per-cycle sampler.
    await tb.idle()
    tb.stress(0.3)
    await tb.clear_counters()
    stop, out = [False], {"rd_stall": 0, "wr_stall": 0, "max_inflight": 0}
    sampler = cocotb.start_soon(_sample(tb, stop, out))
    reads = [tb.rand_cmd(tb.rd_area, tb.rng.randint(1, 1200)) for _ in range(6)]
    writes = [tb.rand_write(n=tb.rng.randint(1, 1200)) for _ in range(6)]
    await tb.run_both(reads, writes)
    await tb.idle()
    stop[0] = True
    await sampler
    got = {"rd_stall": int(h.cnt_rd_stall.value), "wr_stall": int(h.cnt_wr_stall.value)}
    assert got == {k: out[k] for k in got}, f"stall counters {got} != sampled {out} [{tb.tag}]"
    assert out["max_inflight"] <= tb.max_out, f"{out['max_inflight']} reads in flight [{tb.tag}]"
    for c in reads:
        tb.check_read(c, "stress")
    for c in writes:
        tb.apply_write(c)
    tb.check_write_area("after the stress run")
    await tb.check_counters(tb.dram.take())
    dut._log.info("stall counters %s, max reads in flight %d", got, out["max_inflight"])
