"""Tests of the data movers: rtl/eftrain_loader.sv (DMA read -> engine load port) and
rtl/eftrain_storer.sv (engine unload port -> DMA write), with the real DMA and engine around them.

The wrapper tb/movers/movers_tb.sv holds axi_dma + eftrain_engine + loader + storer as the top
level wires them, exposes the op ports, and gives the test direct access to the engine's unload
port (to read BUF_IN / BUF_BIAS, which the storer never reads). The DRAM is tb/common/dram.py
(random read latency, random AXI pauses, fault regions). One Verilator model per preset
(``build/<preset>/movers/model``); each cocotb test below runs in its own simulation.

Checks compare against NumPy: a model of the engine buffers that applies every load op with the
documented port mapping (eftrain_engine.sv) to the words in DRAM, checked itself against the
tensors packed with eftrain.golden.layout; stores are compared word for word in DRAM, gaps between
segments included.

cocotb tests, per configuration: ``ci`` (4x4, WPB 4) and ``ci-w2`` (the ci engine on a 64-bit
bus: WPB 2, so a pixel or weight row takes two port beats) in the quick tier, ``zcu102`` (16x16,
WPB 4; marked slow: its engine model takes minutes to build)
    roundtrip   random feature maps under random DRAM latency, AXI pauses, op-port idles and load /
                unload port stalls: zero fill then FMAP loads into IN with the FP halo mapping
                (row_step > width), the BP zero-insertion mapping (col_step 2, row_step 2x), a
                multi-segment halo tile (one segment per row); OUT loads stored back with a
                lanes_valid mask and one segment per row with gaps; a folded FC (one TN-word
                segment per image, loaded and stored); bias (fill, then a partial beat). Stores
                wait for loads and loads for stores through op_wait_computed / op_wait_stored
                (computed_cnt follows loaded_cnt), so both movers run at once.
    weights     W tiles, K = 1..7, flip 0 and 1, loaded and stored back through BUF_W with random
                rows_valid / cols_valid: DRAM == the NumPy transform of the weight tensor.
    gating      ops with wait values, computed_cnt held by the test: a per-cycle monitor asserts
                that no op issues a DMA command, fill or unload request before computed_cnt /
                stored_cnt reach its waits, and that each starts once they do.
    errors      SLVERR / DECERR fault regions on reads and writes, an out-of-window read:
                err_valid with the DMA status and address, nothing counted after it, nothing sent
                to the engine / DMA after it, the DMA drains (no hang), new ops are swallowed;
                abort clears it and a clean round trip works.
    abort       abort at random moments of long loads and stores under stress: everything idle,
                counters 0, then a clean round trip works.
    throughput  no stress: one stream beat per cycle into the engine and out of it, and back-to-back
                ops whose DMA latency overlaps (cycle bounds; figures in throughput.json).

Static checks: ``verilator --lint-only -Wall`` of both modules at every preset and two corners,
the elaboration checks (TM != TN, TN % WPB != 0 must fail), Yosys ``synth_xilinx -family xcup``
(LUT/FF printed).

Environment: ``MOVERS_SEED`` fixes the random seed (printed in every failure message); ``WAVES=1``
builds a traced model.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, SimTimeoutError, with_timeout
from cocotbext.axi.stream import define_stream

from tb.common import sim
from tb.common.dram import RESP_DECERR, RESP_SLVERR, Dram, set_pause

HERE = Path(__file__).resolve().parent
TEST_MODULE = "tb.movers.test_movers"
ENGINE_MODULES = ("eftrain_fp32_pkg", "eftrain_engine_pkg", "fp32_mul", "fp32_add", "engine_ram",
                  "adder_tree", "eftrain_engine")
DMA_MODULES = ("axi_dma_check", "axi_dma_rd", "axi_dma_wr", "axi_dma")
MOVER_MODULES = ("eftrain_loader", "eftrain_storer")
TESTS = ("roundtrip", "weights", "gating", "errors", "abort", "throughput")
# Configurations: the presets, and "ci-w2" = ci with a 64-bit bus (WPB 2 < TN: two port beats per
# pixel and per weight row in the quick tier, as in zcu102 where WPB 4 < TN 16).
VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "ci": ("ci", {}),
    "ci-w2": ("ci", {"bus_bits": 64}),
    "zcu102": ("zcu102", {}),
}
PRESETS = tuple(VARIANTS)
SLOW_PRESETS = ("zcu102",)   # the 16x16 engine model takes minutes to build

ADDR_W = 40
DMA_PARAMS = {"ADDR_W": ADDR_W, "MAX_BURST": 64, "MAX_OUTSTANDING": 8, "QUEUE_DEPTH": 4, "OP_DEPTH": 4}

# Lint corners beyond the presets: a wide bus (WPB 8), a one-word bus with an odd TN, op queue of 2.
LINT_CORNERS: dict[str, dict[str, int]] = {
    "t8-w8-q2": {"TM": 8, "TN": 8, "WPB": 8, "OP_DEPTH": 2, "ADDR_W": 64, "LEN_W": 12},
    "t3-w1-q8": {"TM": 3, "TN": 3, "WPB": 1, "OP_DEPTH": 8, "ADDR_W": 32},
}


# =================================================================================================
# pytest side
# =================================================================================================

def _cfg(name: str) -> dict[str, object]:
    from eftrain.config import preset  # the one source of the hardware parameters

    base, changes = VARIANTS[name]
    c = preset(base).with_(**changes)
    return {"name": name, "preset": base, **c.rtl_parameters(), **DMA_PARAMS,
            "WPB": c.words_per_beat}


def _build(name: str) -> sim.Model:
    cfg = _cfg(name)
    params = {k: v for k, v in cfg.items() if k not in ("name", "preset")}
    return sim.build(
        toplevel="movers_tb",
        sources=[*sim.rtl_sources(*ENGINE_MODULES, *DMA_MODULES, *MOVER_MODULES),
                 HERE / "movers_tb.sv"],
        tag=name,
        unit="movers",
        parameters=params,
    )


def _seed() -> int:
    env = os.environ.get("MOVERS_SEED")
    return int(env, 0) if env else secrets.randbits(32)


def _presets() -> list[object]:
    return [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PRESETS else p for p in PRESETS]


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("name", _presets())
def test_movers(name: str, test: str) -> None:
    model = _build(name)
    seed = _seed()
    work = sim.run_dir(model, test)
    env = {"MOVERS_SEED": str(seed), "MOVERS_CFG": json.dumps(_cfg(name))}
    try:
        sim.run(model, test_module=TEST_MODULE, directory=work, testcase=f"movers_{test}",
                extra_env=env, seed=seed & 0x7FFFFFFF)
    except sim.SimulationError as exc:
        raise AssertionError(f"[movers {name} {test}, MOVERS_SEED={seed:#x}] {exc}") from None
    if test == "throughput":
        print(f"{name} throughput:", (work / "throughput.json").read_text())


def _lint(top: str, params: dict[str, int]) -> subprocess.CompletedProcess[str]:
    root = sim.setup_verilator()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module", top,
           *(f"-G{k}={v}" for k, v in params.items()),
           *map(str, sim.rtl_sources("eftrain_engine_pkg", top))]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _lint_params(name: str) -> dict[str, int]:
    if name in LINT_CORNERS:
        return LINT_CORNERS[name]
    cfg = _cfg(name)
    return {k: int(cfg[k]) for k in ("TM", "TN", "WPB", "ADDR_W", "OP_DEPTH")}


@pytest.mark.parametrize("name", [*PRESETS, *LINT_CORNERS])
@pytest.mark.parametrize("top", MOVER_MODULES)
def test_verilator_lint_clean(top: str, name: str) -> None:
    out = _lint(top, _lint_params(name))
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


@pytest.mark.parametrize("bad", [{"TM": 4, "TN": 8}, {"TM": 6, "TN": 6, "WPB": 4}])
@pytest.mark.parametrize("top", MOVER_MODULES)
def test_elaboration_checks(top: str, bad: dict[str, int]) -> None:
    """TM != TN and TN % WPB != 0 stop elaboration with a message."""
    out = _lint(top, bad)
    assert out.returncode != 0 and "must" in out.stderr, out.stderr[-2000:]


def test_yosys_synth_xilinx(tmp_path: Path) -> None:
    """synth_xilinx (UltraScale+) of both movers at the zcu102 parameters; prints LUT / FF."""
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install -y yosys)")
    p = _lint_params("zcu102")
    procs = {}
    for top in MOVER_MODULES:
        chparam = " ".join(f"-set {k} {v}" for k, v in p.items())
        script = (f"read_verilog -sv {' '.join(map(str, sim.rtl_sources('eftrain_engine_pkg', top)))}; "
                  f"chparam {chparam} {top}; synth_xilinx -family xcup -top {top}; stat")
        log = tmp_path / f"{top}.log"
        procs[top] = (subprocess.Popen(["yosys", "-q", "-l", str(log), "-p", script],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), log)
    for top, (proc, log) in procs.items():
        out, _ = proc.communicate()
        assert proc.returncode == 0, out[-4000:]
        text = log.read_text()
        assert "Latch inferred" not in text
        stat = text.rsplit(f"=== {top} ===", 1)[-1]
        cells = dict((m[1], int(m[2])) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M))
        luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT\d", k))
        ffs = sum(v for k, v in cells.items() if re.fullmatch(r"FD\w+", k))
        lutram = sum(v for k, v in cells.items() if k.startswith("RAM"))
        print(f"{top} (zcu102 parameters): {luts} LUT, {ffs} FF, {lutram} LUTRAM cells, "
              f"{cells.get('CARRY4', 0) + cells.get('CARRY8', 0)} carry")
        assert ffs > 0 and luts > 0


# =================================================================================================
# Simulator side
# =================================================================================================

CLK_NS = 10
BUF_IN, BUF_OUT, BUF_W, BUF_BIAS = range(4)
LD_FILL, LD_FMAP, LD_W = range(3)
ST_FMAP, ST_W = range(2)
ST_OUT_OF_WINDOW, ST_SLVERR, ST_DECERR = 3, 4, 5
UNKNOWN = -1

LD_FIELDS = ("kind", "buf", "bank", "addr", "nseg", "seg_words", "seg_stride", "base", "width",
             "col_step", "row_step", "count", "k", "flip", "wait_computed", "wait_stored")
ST_FIELDS = ("kind", "bank", "addr", "nseg", "seg_words", "seg_stride", "base", "npix",
             "lanes_valid", "k", "rows_valid", "cols_valid", "wait_computed")
LdOpBus, LdOpTx, LdOpSource, _, _ = define_stream("LdOp", signals=["valid", "ready", *LD_FIELDS],
                                                  valid_signal="valid", ready_signal="ready")
StOpBus, StOpTx, StOpSource, _, _ = define_stream("StOp", signals=["valid", "ready", *ST_FIELDS],
                                                  valid_signal="valid", ready_signal="ready")
RqBus, RqTx, RqSource, _, _ = define_stream(
    "TbRq", signals=["valid", "ready", "buf", "bank", "lane", "col", "addr", "mask"])
RsBus, _, _, RsSink, _ = define_stream("TbRs", signals=["valid", "ready", "data", "mask"])


@dataclass
class LdOp:
    kind: int
    buf: int = BUF_IN
    bank: int = 0
    addr: int = 0
    nseg: int = 1
    seg_words: int = 0
    seg_stride: int = 0
    base: int = 0
    width: int = 1
    col_step: int = 1
    row_step: int = 0
    count: int = 0
    k: int = 1
    flip: int = 0
    wait_computed: int = 0
    wait_stored: int = 0

    def tx(self) -> object:
        return LdOpTx(**{f: getattr(self, f) for f in LD_FIELDS})

    def ncmds(self) -> int:
        return 0 if self.kind == LD_FILL else self.nseg


@dataclass
class StOp:
    kind: int
    bank: int = 0
    addr: int = 0
    nseg: int = 1
    seg_words: int = 0
    seg_stride: int = 0
    base: int = 0
    npix: int = 0
    lanes_valid: int = 0
    k: int = 1
    rows_valid: int = 0
    cols_valid: int = 0
    wait_computed: int = 0

    def tx(self) -> object:
        return StOpTx(**{f: getattr(self, f) for f in ST_FIELDS})


@dataclass
class Pending:
    """A store whose DRAM result is checked once it has completed."""

    op: StOp
    want: np.ndarray                       # the op's words, in order
    what: str
    keep: list[tuple[int, bytes]]          # DRAM around and between the segments: unchanged


class TB:
    """Clock, reset, DRAM, op sources, the engine-buffer model and the checks."""

    def __init__(self, dut: object) -> None:
        self.dut = dut
        cfg = json.loads(os.environ["MOVERS_CFG"])
        self.cfg = cfg
        self.tm, self.tn, self.wpb = int(cfg["TM"]), int(cfg["TN"]), int(cfg["WPB"])
        self.depth = {BUF_IN: int(cfg["IN_DEPTH"]), BUF_OUT: int(cfg["OUT_DEPTH"]),
                      BUF_W: int(cfg["W_DEPTH"])}
        self.seed = int(os.environ.get("MOVERS_SEED", "1"), 0)
        self.rng = random.Random(self.seed)
        self.nrng = np.random.default_rng(self.seed)
        self.tag = f"[{cfg['name']} MOVERS_SEED={self.seed:#x}]"
        dut._log.info("movers_tb %s %s", cfg, self.tag)

        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.dram = Dram(dut, dut.clk, ADDR_W, latency=self.rng.randint(1, 40), clk_ns=CLK_NS)
        rst = {"reset": dut.rst_n, "reset_active_level": False}
        self.ld_src = LdOpSource(LdOpBus.from_prefix(dut, "ld_op"), dut.clk, **rst)
        self.st_src = StOpSource(StOpBus.from_prefix(dut, "st_op"), dut.clk, **rst)
        self.rq = RqSource(RqBus.from_prefix(dut, "tb_rd_req"), dut.clk, **rst)
        self.rs = RsSink(RsBus.from_prefix(dut, "tb_rd_rsp"), dut.clk, **rst)

        # A 16 MiB window high in the 40-bit space; a bump allocator hands out DRAM areas.
        self.win_base = (1 << ADDR_W) - (1 << 30) + self.rng.randrange(0, 1 << 20, 4096)
        self.win_limit = self.win_base + (16 << 20)
        self.heap = self.win_base

        t = self.tn
        self.m_buf = {
            (BUF_IN, 0): np.full((t, self.depth[BUF_IN]), UNKNOWN, np.int64),
            (BUF_IN, 1): np.full((t, self.depth[BUF_IN]), UNKNOWN, np.int64),
            (BUF_OUT, 0): np.full((self.tm, self.depth[BUF_OUT]), UNKNOWN, np.int64),
            (BUF_OUT, 1): np.full((self.tm, self.depth[BUF_OUT]), UNKNOWN, np.int64),
        }
        self.m_w = np.full((self.tm, t, self.depth[BUF_W]), UNKNOWN, np.int64)
        self.m_bias = np.full(self.tm, UNKNOWN, np.int64)
        # Program bookkeeping (reset by abort): ops sent, last writer / reader per resource.
        self.n_ld = 0
        self.n_st = 0
        self.last_ld: dict[tuple[int, int], int] = {}
        self.last_st: dict[tuple[int, int], int] = {}
        self.pending: list[Pending] = []

    # ---------------------------------------------------------------------------------------------
    # Set-up, stress, waiting
    # ---------------------------------------------------------------------------------------------
    async def reset(self) -> None:
        d = self.dut
        d.rst_n.value = 0
        for s in ("abort", "clear", "computed_sel", "tb_rd_sel", "perf_clear"):
            getattr(d, s).value = 0
        d.computed_cnt.value = 0
        d.win_base.value = self.win_base
        d.win_limit.value = self.win_limit
        d.lfsr_seed.value = self.rng.getrandbits(32)
        self.stall(0, 0, 0)
        await ClockCycles(d.clk, 5)
        d.rst_n.value = 1
        await ClockCycles(d.clk, 2)

    def stall(self, ld: int, rq: int, rsp: int) -> None:
        self.dut.ld_stall_16.value = ld
        self.dut.rq_stall_16.value = rq
        self.dut.rsp_stall_16.value = rsp

    def stress(self, level: float) -> None:
        """Random DRAM latency and AXI pauses, op-port idles, load / unload port stalls."""
        r = self.rng
        self.dram.pause(r, level)
        for src in (self.ld_src, self.st_src):
            set_pause(src, r, level * r.choice([0.0, 1.0, 2.0]))
        pick = lambda: min(12, int(16 * level * r.choice([0.0, 0.5, 1.0, 1.5])))  # noqa: E731
        self.stall(pick(), pick(), pick())
        self.dram.latency = r.choice([1, 4, 20, 60]) if level > 0 else r.randint(1, 40)

    def state(self) -> str:
        d = self.dut
        sigs = ["loaded_cnt", "stored_cnt", "ld_busy", "st_busy", "rd_busy", "wr_busy", "ld_err_valid",
                "st_err_valid", "ld_op_valid", "ld_op_ready", "st_op_valid", "st_op_ready"]
        inner = {"u_ld": ["wr_p", "cmd_p", "in_p", "fin_p", "dn_p", "ret_p", "f_cnt", "failed"],
                 "u_st": ["wr_p", "cmd_p", "r_p", "dn_p", "f_cnt", "failed", "rs_junk"]}
        parts = [" ".join(f"{s}={int(getattr(d, s).value)}" for s in sigs)]
        for u, names in inner.items():
            parts.append(u + ": " + " ".join(f"{s}={int(getattr(getattr(d, u), s).value)}"
                                              for s in names))
        return "; ".join(parts)

    async def bounded(self, coro: object, budget: int, what: str) -> None:
        try:
            await with_timeout(coro, budget * CLK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: no progress in {budget} cycles; {self.state()} "
                                 f"{self.tag}") from None

    async def until(self, cond: object, budget: int, what: str, step: int = 4) -> None:
        async def poll() -> None:
            while not cond():
                await ClockCycles(self.dut.clk, step)
        await self.bounded(poll(), budget, what)

    def cnt(self, name: str) -> int:
        return int(getattr(self.dut, name).value)

    async def wait_done(self, budget: int = 400_000) -> None:
        """Every op sent so far counted; then the stores' DRAM contents checked."""
        await self.until(lambda: self.cnt("loaded_cnt") >= self.n_ld
                         and self.cnt("stored_cnt") >= self.n_st, budget,
                         f"waiting for {self.n_ld} loads / {self.n_st} stores")
        assert self.cnt("loaded_cnt") == self.n_ld and self.cnt("stored_cnt") == self.n_st, (
            f"counted more ops than sent: {self.state()} {self.tag}")
        await self.until(lambda: not (self.cnt("ld_busy") or self.cnt("st_busy") or self.cnt("rd_busy")
                                      or self.cnt("wr_busy")), 1000, "waiting for idle")
        for p in self.pending:
            self.check_store(p)
        self.pending.clear()

    async def abort(self, cycles: int = 1) -> None:
        """Pulse abort (loader, storer, DMA soft reset) and reset the program bookkeeping."""
        d = self.dut
        d.abort.value = 1
        for src in (self.ld_src, self.st_src):   # the sequencer drops its ops too
            src.clear()
            src.assert_reset()
        await ClockCycles(d.clk, cycles)
        d.abort.value = 0
        await self.until(lambda: not (self.cnt("rd_busy") or self.cnt("wr_busy")), 100_000,
                         "DMA drain after abort")
        await ClockCycles(d.clk, 4)
        assert (self.cnt("loaded_cnt"), self.cnt("stored_cnt"), self.cnt("ld_busy"),
                self.cnt("st_busy"), self.cnt("ld_err_valid"), self.cnt("st_err_valid")) == (
                    0, 0, 0, 0, 0, 0), f"not clean after abort: {self.state()} {self.tag}"
        self.n_ld = self.n_st = 0
        self.last_ld.clear()
        self.last_st.clear()
        self.pending.clear()
        # Whatever the aborted ops did to the buffers is unknown now.
        for a in self.m_buf.values():
            a[:] = UNKNOWN
        self.m_w[:] = UNKNOWN
        self.m_bias[:] = UNKNOWN

    # ---------------------------------------------------------------------------------------------
    # DRAM
    # ---------------------------------------------------------------------------------------------
    def alloc(self, nwords: int, misalign: bool = True) -> int:
        """A fresh DRAM area of ``nwords`` words (64-byte aligned, or not quite beat aligned)."""
        addr = (self.heap + 63) // 64 * 64
        if misalign and self.rng.random() < 0.5:
            addr += 4 * self.rng.randrange(0, self.wpb)
        self.heap = addr + 4 * nwords + 64
        assert self.heap < self.win_limit, "test window exhausted"
        return addr

    def put(self, words: np.ndarray, misalign: bool = True) -> int:
        addr = self.alloc(words.size, misalign)
        self.dram.write_words(addr, words)
        return addr

    def rand_words(self, n: int) -> np.ndarray:
        return self.nrng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)

    def op_words(self, op: LdOp | StOp) -> list[tuple[int, int]]:
        """(byte address, words) of each segment."""
        return [(op.addr + s * op.seg_stride, op.seg_words) for s in range(op.nseg)]

    # ---------------------------------------------------------------------------------------------
    # Engine-buffer model (the documented port mapping, applied in program order)
    # ---------------------------------------------------------------------------------------------
    def apply_ld(self, op: LdOp) -> None:
        t, tm = self.tn, self.tm
        if op.kind == LD_FILL:
            if op.buf == BUF_BIAS:
                self.m_bias[:] = 0
                return
            arr = self.m_w if op.buf == BUF_W else self.m_buf[(op.buf, op.bank)]
            arr[..., op.base:min(op.base + op.count, arr.shape[-1])] = 0
            return
        words = np.concatenate([self.dram.array(a, n) for a, n in self.op_words(op)]).astype(np.int64)
        k = np.arange(words.size)
        if op.kind == LD_FMAP:
            q, lane = k // t, k % t
            r, c = q // op.width, q % op.width
            a = (op.base + r * op.row_step + c * op.col_step) & 0xFFFF
            if op.buf == BUF_BIAS:
                ok = lane < tm
                self.m_bias[lane[ok]] = words[ok]
                return
            arr = self.m_buf[(op.buf, op.bank)]
            ok = (a < arr.shape[1]) & (lane < arr.shape[0])
            assert len(set(zip(lane[ok].tolist(), a[ok].tolist(), strict=True))) == int(ok.sum()), \
                "test bug: an FMAP op writing one place twice"
            arr[lane[ok], a[ok]] = words[ok]
            return
        kk = op.k
        j, i, kp = k % t, (k // t) % tm, k // (t * tm)
        kh, kw = kp // kk, kp % kk
        if op.flip:
            row, col, a = j, i, op.base + (kk - 1 - kh) * kk + (kk - 1 - kw)
        else:
            row, col, a = i, j, op.base + kh * kk + kw
        ok = a < self.depth[BUF_W]
        self.m_w[row[ok], col[ok], a[ok]] = words[ok]

    def store_words(self, op: StOp) -> np.ndarray:
        """The words a store op writes, from the model."""
        t = self.tn
        if op.kind == ST_FMAP:
            a = (op.base + np.arange(op.npix)) & 0xFFFF
            arr = self.m_buf[(BUF_OUT, op.bank)]
            vals = np.zeros((op.npix, t), np.int64)
            lanes = min(op.lanes_valid, self.tm, t)
            ok = a < arr.shape[1]
            vals[ok, :lanes] = arr[:lanes, a[ok]].T
        else:
            kk = op.k * op.k
            a = op.base + np.arange(kk)
            ok = a < self.depth[BUF_W]
            vals = np.zeros((kk, self.tm, t), np.int64)
            vals[ok] = np.moveaxis(self.m_w[:, :, a[ok]], 2, 0)
            vals[:, min(op.rows_valid, self.tm):, :] = 0
            vals[:, :, min(op.cols_valid, t):] = 0
        assert not (vals == UNKNOWN).any(), "test bug: a store reads a place never written"
        return vals.reshape(-1).astype(np.uint32)

    # ---------------------------------------------------------------------------------------------
    # Sending ops with their dependencies (the sequencer's job in the top level)
    # ---------------------------------------------------------------------------------------------
    @staticmethod
    def ld_resources(op: LdOp) -> list[tuple[int, int]]:
        if op.buf in (BUF_IN, BUF_OUT):
            return [(op.buf, op.bank)]
        return [(op.buf, 0)]

    def send_ld(self, op: LdOp, auto_wait: bool = True) -> None:
        """Queue a load op. With ``auto_wait`` it waits for the last store that reads what it
        writes (wait_stored); the model is updated in program order."""
        if auto_wait:
            op.wait_stored = max([op.wait_stored] + [self.last_st.get(r, 0)
                                                     for r in self.ld_resources(op)])
        self.apply_ld(op)
        self.n_ld += 1
        for r in self.ld_resources(op):
            self.last_ld[r] = self.n_ld
        self.ld_src.send_nowait(op.tx())

    def send_st(self, op: StOp, what: str, auto_wait: bool = True, check: bool = True) -> None:
        """Queue a store op. With ``auto_wait`` it waits for the last load of its buffer
        (wait_computed: computed_cnt follows loaded_cnt, computed_sel = 1)."""
        res = (BUF_OUT, op.bank) if op.kind == ST_FMAP else (BUF_W, 0)
        if auto_wait:
            op.wait_computed = max(op.wait_computed, self.last_ld.get(res, 0))
        want = self.store_words(op) if check else np.zeros(0, np.uint32)
        self.n_st += 1
        self.last_st[res] = self.n_st
        if check:
            segs = self.op_words(op)
            spans = [(segs[0][0] - 64, segs[0][0])]
            spans += [(a + 4 * n, segs[i + 1][0]) for i, (a, n) in enumerate(segs[:-1])]
            spans.append((segs[-1][0] + 4 * segs[-1][1], segs[-1][0] + 4 * segs[-1][1] + 64))
            keep = [(lo, self.dram.read(lo, hi - lo)) for lo, hi in spans if hi > lo]
            self.pending.append(Pending(op, want, what, keep))
        self.st_src.send_nowait(op.tx())

    def store_area(self, op_words: int, nseg: int, gap_words: int) -> tuple[int, int]:
        """DRAM area for a store of nseg segments with gaps, prefilled with garbage; returns
        (address, stride in bytes)."""
        seg = op_words // nseg
        stride = 4 * (seg + gap_words)
        addr = self.alloc(nseg * (seg + gap_words) + gap_words)
        self.dram.write_words(addr, self.rand_words(nseg * (seg + gap_words) + gap_words))
        return addr, stride

    def check_store(self, p: Pending) -> None:
        op = p.op
        got = np.concatenate([self.dram.array(a, n) for a, n in self.op_words(op)])
        if not np.array_equal(got, p.want):
            i = int(np.nonzero(got != p.want)[0][0])
            raise AssertionError(f"store {p.what}: word {i} of {got.size} is {int(got[i]):#010x}, "
                                 f"want {int(p.want[i]):#010x} ({op}) {self.tag}")
        for lo, old in p.keep:
            assert self.dram.read(lo, len(old)) == old, (
                f"store {p.what} wrote outside its segments, in [{lo:#x}, {lo + len(old):#x}) "
                f"{self.tag}")

    # ---------------------------------------------------------------------------------------------
    # Direct reads of the engine buffers (tb_rd_* port)
    # ---------------------------------------------------------------------------------------------
    async def read_beats(self, reqs: list[tuple[int, int, int, int, int]]) -> list[list[int]]:
        """Unload requests (buf, bank, lane, col, addr) with a full mask; the response words."""
        d = self.dut
        await self.until(lambda: not self.cnt("st_busy"), 100_000, "storer idle before a read")
        await ClockCycles(d.clk, 2)
        d.tb_rd_sel.value = 1
        full = (1 << self.wpb) - 1
        for b, bank, lane, col, addr in reqs:
            self.rq.send_nowait(RqTx(buf=b, bank=bank, lane=lane, col=col, addr=addr, mask=full))
        out: list[list[int]] = []

        async def collect() -> None:
            for _ in reqs:
                r = await self.rs.recv()
                data = int(r.data)
                out.append([data >> (32 * w) & 0xFFFFFFFF for w in range(self.wpb)])

        await self.bounded(collect(), 20 * len(reqs) + 1000, "tb unload reads")
        await ClockCycles(d.clk, 2)
        d.tb_rd_sel.value = 0
        return out

    async def read_fmap(self, buf: int, bank: int, addrs: list[int]) -> np.ndarray:
        lanes = self.tn if buf == BUF_IN else self.tm
        reqs = [(buf, bank, l0, 0, a) for a in addrs for l0 in range(0, lanes, self.wpb)]
        beats = await self.read_beats(reqs)
        words = np.array([w for b in beats for w in b], np.int64)
        return words.reshape(len(addrs), -1)[:, :lanes]

    async def check_fmap_region(self, buf: int, bank: int, lo: int, hi: int, what: str) -> None:
        got = await self.read_fmap(buf, bank, list(range(lo, hi)))
        want = self.m_buf[(buf, bank)][:, lo:hi].T
        assert not (want == UNKNOWN).any(), f"test bug: {what} reads unwritten places"
        if not np.array_equal(got, want):
            a, lane = (int(v) for v in np.argwhere(got != want)[0])
            raise AssertionError(f"{what}: buffer {buf} bank {bank} address {lo + a} lane {lane} "
                                 f"is {int(got[a, lane]):#010x}, want {int(want[a, lane]):#010x} "
                                 f"{self.tag}")

    async def check_bias(self, what: str) -> None:
        beats = await self.read_beats([(BUF_BIAS, 0, l0, 0, 0) for l0 in range(0, self.tm, self.wpb)])
        got = np.array([w for b in beats for w in b], np.int64)[:self.tm]
        assert np.array_equal(got, self.m_bias), f"{what}: bias {got} != {self.m_bias} {self.tag}"

    # ---------------------------------------------------------------------------------------------
    # Op builders
    # ---------------------------------------------------------------------------------------------
    def fmap_load(self, lay: object, addr0: int, box: tuple[int, ...], **kw: int) -> LdOp:
        """FMAP load of a feature-map box (one channel block) stored at addr0 in ``lay``; one
        segment per contiguous run (layout.ranges)."""
        runs = lay.ranges(box)
        n = runs[0][1]
        assert all(k == n for _, k in runs), runs
        stride = runs[1][0] - runs[0][0] if len(runs) > 1 else 0
        assert all(runs[i + 1][0] - runs[i][0] == stride for i in range(len(runs) - 1)), runs
        return LdOp(kind=LD_FMAP, addr=addr0 + 4 * runs[0][0], nseg=len(runs), seg_words=n,
                    seg_stride=4 * stride, width=box[6] - box[5], **kw)

    def expect_tile(self, x: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
        """(rows, cols, TN) words of a box of NCHW tensor x (uint32 bits), padding lanes 0."""
        b, c0, c1, r0, r1, q0, q1 = box
        out = np.zeros((r1 - r0, q1 - q0, self.tn), np.int64)
        out[:, :, :c1 - c0] = np.moveaxis(x[b, c0:c1, r0:r1, q0:q1], 0, 2)
        return out

    def model_tile(self, buf: int, bank: int, base: int, rows: int, cols: int, row_step: int,
                   col_step: int) -> np.ndarray:
        arr = self.m_buf[(buf, bank)]
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        a = base + r * row_step + c * col_step
        return np.moveaxis(arr[:, a], 0, 2)


def _bits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random float32 bit patterns (NaN payloads, -0.0, subnormals: the movers must not care)."""
    return rng.integers(0, 1 << 32, shape, dtype=np.uint64).astype(np.uint32).view(np.float32)


async def _start(dut: object) -> TB:
    tb = TB(dut)
    await tb.reset()
    return tb


# -------------------------------------------------------------------------------------------------
# Scenarios
# -------------------------------------------------------------------------------------------------

async def _roundtrip(tb: TB, it: str) -> None:
    """One program with every FMAP mapping, then the checks."""
    from eftrain.golden.layout import fmap_layout

    r, t = tb.rng, tb.tn
    cfg = tb.cfg["preset"]   # the layouts depend on TM / TN only
    B, C, H, W = 2, r.randint(1, 2 * t), r.randint(2, 7), r.randint(2, 7)
    x = _bits(tb.nrng, (B, C, H, W))
    lay = fmap_layout(cfg, (B, C, H, W))
    xa = tb.put(lay.pack(x).view(np.uint32))
    xb = x.view(np.uint32).astype(np.int64)
    nblk = -(-C // t)
    checks: list[tuple[str, int, int, int, int, int, int, int, np.ndarray]] = []

    def blk_box(b: int, blk: int, r0: int = 0, r1: int = H, q0: int = 0, q1: int = W) -> tuple:
        return (b, blk * t, min(C, (blk + 1) * t), r0, r1, q0, q1)

    # (a) FP halo: fill the padded tile, load the map into its interior (IN bank 0).
    p = r.randint(0, 2)
    hp, wp = H + 2 * p, W + 2 * p
    base_a = r.randint(0, 40)
    box = blk_box(0, r.randrange(nblk))
    tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_IN, bank=0, base=base_a, count=hp * wp))
    base = base_a + p * wp + p
    tb.send_ld(tb.fmap_load(lay, xa, box, buf=BUF_IN, bank=0, base=base, col_step=1, row_step=wp))
    checks.append(("FP halo", BUF_IN, 0, base_a, hp * wp, base, wp, 1, tb.expect_tile(xb, box)))

    # (b) BP zero insertion (stride 2): every other column and row of the padded map (IN bank 1).
    hz, wz = 2 * H - 1 + 2 * p, 2 * W - 1 + 2 * p
    base_b = r.randint(0, 40)
    box = blk_box(1, nblk - 1)
    tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_IN, bank=1, base=base_b, count=hz * wz))
    base = base_b + p * wz + p
    tb.send_ld(tb.fmap_load(lay, xa, box, buf=BUF_IN, bank=1, base=base, col_step=2, row_step=2 * wz))
    checks.append(("BP zero insertion", BUF_IN, 1, base_b, hz * wz, base, 2 * wz, 2,
                   tb.expect_tile(xb, box)))

    # (c) Halo tile: rows r0..r1, columns q0..q1 (one segment per row), into IN bank 0 after (a).
    r0 = r.randrange(H)
    r1 = r.randint(r0 + 1, H)
    q0 = r.randrange(W - 1)
    q1 = r.randint(q0 + 1, W - 1)
    rows, cols = r1 - r0, q1 - q0
    pitch = cols + r.randint(0, 3)
    base_c = base_a + hp * wp + r.randint(0, 8)
    box = blk_box(r.randrange(B), r.randrange(nblk), r0, r1, q0, q1)
    tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_IN, bank=0, base=base_c, count=rows * pitch))
    op = tb.fmap_load(lay, xa, box, buf=BUF_IN, bank=0, base=base_c, col_step=1, row_step=pitch)
    assert op.nseg == rows or cols == W
    tb.send_ld(op)
    checks.append(("halo tile", BUF_IN, 0, base_c, rows * pitch, base_c, pitch, 1,
                   tb.expect_tile(xb, box)))

    # (d) OUT: load a map into OUT, store it back, one segment per row with gaps, lanes masked.
    ob = r.randrange(2)
    base_d = r.randint(0, 100)
    box = blk_box(r.randrange(B), r.randrange(nblk))
    tb.send_ld(tb.fmap_load(lay, xa, box, buf=BUF_OUT, bank=ob, base=base_d, col_step=1, row_step=W))
    lanes = r.randint(1, t)
    addr, stride = tb.store_area(H * W * t, H, r.randint(0, 9))
    tb.send_st(StOp(kind=ST_FMAP, bank=ob, addr=addr, nseg=H, seg_words=W * t, seg_stride=stride,
                    base=base_d, npix=H * W, lanes_valid=lanes), f"OUT rows ({it})")
    want = tb.expect_tile(xb, box).reshape(-1, t)
    want[:, lanes:] = 0
    assert np.array_equal(tb.pending[-1].want.reshape(-1, t), want), "model != tensor (d)"

    # (e) Folded FC: channel block nt of B2 one-pixel images = B2 segments of TN words; stored
    # back the same way into an FC output layout.
    b2, n = r.randint(2, 5), r.randint(1, 3 * t)
    f = _bits(tb.nrng, (b2, n, 1, 1))
    flay = fmap_layout(cfg, (b2, n, 1, 1))
    fa = tb.put(flay.pack(f).view(np.uint32))
    nt = r.randrange(-(-n // t))
    fbox = (0, nt * t, min(n, (nt + 1) * t), 0, 1, 0, 1)
    runs = [flay.ranges((b, *fbox[1:]))[0] for b in range(b2)]
    ob2 = 1 - ob
    base_e = r.randint(0, 50)
    width = r.choice([1, b2])
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_OUT, bank=ob2, addr=fa + 4 * runs[0][0], nseg=b2,
                    seg_words=t, seg_stride=4 * (runs[1][0] - runs[0][0]), base=base_e, width=width,
                    col_step=1, row_step=width))
    m_out = r.randint(1, 3 * t)
    olay = fmap_layout(cfg, (b2, m_out, 1, 1))
    oa = tb.alloc(olay.size)
    tb.dram.write_words(oa, tb.rand_words(olay.size))
    mt = r.randrange(-(-m_out // t))
    lanes_e = min(t, m_out - mt * t)
    ostride = olay.ranges((1, mt * t, mt * t + 1, 0, 1, 0, 1))[0][0] - \
        olay.ranges((0, mt * t, mt * t + 1, 0, 1, 0, 1))[0][0]
    o0 = olay.ranges((0, mt * t, mt * t + 1, 0, 1, 0, 1))[0][0]
    tb.send_st(StOp(kind=ST_FMAP, bank=ob2, addr=oa + 4 * o0, nseg=b2, seg_words=t,
                    seg_stride=4 * ostride, base=base_e, npix=b2, lanes_valid=lanes_e),
               f"folded FC ({it})")
    fb = f.view(np.uint32).astype(np.int64)
    want = np.zeros((b2, t), np.int64)
    cw = min(fbox[2] - fbox[1], lanes_e)
    want[:, :cw] = fb[:, fbox[1]:fbox[1] + cw, 0, 0]
    assert np.array_equal(tb.pending[-1].want.reshape(b2, t), want), "model != tensor (e)"

    # (f) Bias: zero fill, then a vector of nb <= TN words (a partial last beat when nb % WPB;
    # the words after it in DRAM are garbage that must not land).
    nb = r.randint(1, t)
    ba = tb.put(tb.rand_words(nb + tb.wpb))
    tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_BIAS, count=r.randint(0, 3)))
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_BIAS, addr=ba, nseg=1, seg_words=nb, width=1))

    await tb.wait_done()

    # Buffer contents: the model (and the model against the tensors).
    for what, buf, bank, lo, count, base, row_step, col_step, tile in checks:
        got_model = tb.model_tile(buf, bank, base, tile.shape[0], tile.shape[1], row_step, col_step)
        assert np.array_equal(got_model, tile), f"test bug: model != tensor for {what}"
        await tb.check_fmap_region(buf, bank, lo, lo + count, f"{what} ({it})")
    await tb.check_bias(f"bias of {nb} words ({it})")


@cocotb.test()
async def movers_roundtrip(dut: object) -> None:
    """Every FMAP mapping, OUT stores, folded FC, bias, under random stress."""
    tb = await _start(dut)
    dut.computed_sel.value = 1
    for i, level in enumerate([0.0, 0.3, 0.1, 0.5]):
        tb.stress(level)
        await _roundtrip(tb, f"iteration {i}, stress {level}")
        dut._log.info("roundtrip iteration %d (stress %.1f) ok", i, level)


async def _weights(tb: TB, it: str) -> None:
    from eftrain.golden.layout import weight_layout

    r, t, tm = tb.rng, tb.tn, tb.tm
    cfg = tb.cfg["preset"]   # the layouts depend on TM / TN only
    wd = tb.depth[BUF_W]
    for flip in (0, 1, r.randrange(2)):
        k = r.randint(1, 7)
        while k * k > wd:
            k -= 1
        m, n = r.randint(1, 2 * tm), r.randint(1, 2 * t)
        w = _bits(tb.nrng, (m, n, k, k))
        lay = weight_layout(cfg, (m, n, k, k))
        wa = tb.put(lay.pack(w).view(np.uint32))
        mt, nt = r.randrange(-(-m // tm)), r.randrange(-(-n // t))
        (start, words), = lay.ranges(lay.tile_box(mt, nt))
        assert words == k * k * tm * t
        base = r.randint(0, wd - k * k)
        if r.random() < 0.5:
            tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_W, base=base, count=k * k))
        tb.send_ld(LdOp(kind=LD_W, buf=BUF_W, addr=wa + 4 * start, nseg=1, seg_words=words, base=base,
                        k=k, flip=flip))
        rows, cols = r.randint(0, tm), r.randint(1, t)
        addr, _ = tb.store_area(words, 1, 0)
        tb.send_st(StOp(kind=ST_W, addr=addr, nseg=1, seg_words=words, base=base, k=k,
                        rows_valid=rows, cols_valid=cols), f"W K={k} flip={flip} ({it})")
        # NumPy: tile[i, j, kh, kw] (zero-padded), flip = 180-degree rotation and i <-> j.
        wp = np.zeros((-(-m // tm) * tm, -(-n // t) * t, k, k), np.int64)
        wp[:m, :n] = w.view(np.uint32)
        tile = wp[mt * tm:(mt + 1) * tm, nt * t:(nt + 1) * t]
        if flip:
            tile = np.transpose(tile, (1, 0, 2, 3))[:, :, ::-1, ::-1]
        want = np.transpose(tile, (2, 3, 0, 1)).copy()
        want[:, :, rows:, :] = 0
        want[:, :, :, cols:] = 0
        assert np.array_equal(tb.pending[-1].want, want.reshape(-1)), "test bug: model != NumPy"
    await tb.wait_done()


@cocotb.test()
async def movers_weights(dut: object) -> None:
    """W tiles with flip 0 / 1 through BUF_W and back, every K."""
    tb = await _start(dut)
    dut.computed_sel.value = 1
    for i, level in enumerate([0.0, 0.3, 0.1]):
        tb.stress(level)
        for j in range(3):
            await _weights(tb, f"iteration {i}.{j}, stress {level}")


class GateMonitor:
    """Per cycle (at the falling edge): attribute DMA commands, fills and unload requests to
    their ops and check the gate of each op at its first action."""

    def __init__(self, tb: TB, lds: list[LdOp], sts: list[StOp]) -> None:
        self.tb, self.lds, self.sts = tb, lds, sts
        self.ld_start: list[int | None] = [None] * len(lds)
        self.st_start: list[int | None] = [None] * len(sts)
        self.errors: list[str] = []
        self.stop = False
        t, wpb = tb.tn, tb.wpb
        self.st_reqs = [s.npix * t // wpb if s.kind == ST_FMAP else s.k * s.k * tb.tm * t // wpb
                        for s in sts]

    def _check(self, what: str, i: int, cyc: int, wc: int, ws: int, c: int, s: int) -> None:
        if c < wc or s < ws:
            self.errors.append(f"{what} {i} started in cycle {cyc} with computed={c} stored={s}, "
                               f"its waits are {wc}/{ws}")

    async def run(self) -> None:
        d = self.tb.dut
        rd_cmds = fills = wr_cmds = reqs = 0
        ld_cmd_op = [i for i, o in enumerate(self.lds) for _ in range(o.ncmds())]
        ld_fill_op = [i for i, o in enumerate(self.lds) if o.kind == LD_FILL]
        st_cmd_op = [i for i, o in enumerate(self.sts) for _ in range(o.nseg)]
        st_req_op = [i for i, n in enumerate(self.st_reqs) for _ in range(n)]
        while not self.stop:
            await FallingEdge(d.clk)
            c, s, cyc = int(d.computed_cnt.value), int(d.stored_cnt.value), int(d.cycle.value)
            events = []
            if int(d.mon_rd_cmd_fire.value):
                events.append(("load", ld_cmd_op[rd_cmds]))
                rd_cmds += 1
            if int(d.mon_ld_fill.value):
                events.append(("load", ld_fill_op[fills]))
                fills += 1
            if int(d.mon_wr_cmd_fire.value):
                events.append(("store", st_cmd_op[wr_cmds]))
                wr_cmds += 1
            if int(d.mon_rq_fire.value):
                events.append(("store", st_req_op[reqs]))
                reqs += 1
            for kind, i in events:
                if kind == "load":
                    o = self.lds[i]
                    if self.ld_start[i] is None:
                        self.ld_start[i] = cyc
                    self._check("load", i, cyc, o.wait_computed, o.wait_stored, c, s)
                else:
                    o2 = self.sts[i]
                    if self.st_start[i] is None:
                        self.st_start[i] = cyc
                    self._check("store", i, cyc, o2.wait_computed, 0, c, s)


async def _gating_round(tb: TB, rep: int) -> None:
    """One gated program (see movers_gating)."""
    from eftrain.golden.layout import fmap_layout

    r, t, dut = tb.rng, tb.tn, tb.dut
    cfg = tb.cfg["preset"]   # the layouts depend on TM / TN only
    tb.stress([0.0, 0.2][rep])
    dut.computed_sel.value = 0
    dut.computed_cnt.value = 0
    H, W = r.randint(2, 5), r.randint(2, 5)
    x = _bits(tb.nrng, (1, t, H, W))
    lay = fmap_layout(cfg, (1, t, H, W))
    xa = tb.put(lay.pack(x).view(np.uint32))
    box = (0, 0, t, 0, H, 0, W)
    wwords = 1 * 1 * tb.tm * t
    wa = tb.put(tb.rand_words(wwords))

    def fm(buf: int, bank: int, wc: int, ws: int) -> LdOp:
        return tb.fmap_load(lay, xa, box, buf=buf, bank=bank, base=0, col_step=1, row_step=W,
                            wait_computed=wc, wait_stored=ws)

    # Program (computed_cnt is the test's): waits in brackets [computed, stored].
    lds = [fm(BUF_IN, 0, 0, 0),                                            # L0 [0, 0]
           fm(BUF_OUT, 0, 0, 0),                                           # L1 [0, 0]
           LdOp(kind=LD_W, buf=BUF_W, addr=wa, seg_words=wwords, k=1),     # L2 [0, 0]
           LdOp(kind=LD_FILL, buf=BUF_IN, bank=1, base=0, count=H * W + 3,
                wait_computed=2),                                          # L3 [2, 0]
           fm(BUF_IN, 1, 2, 1),                                            # L4 [2, 1]
           fm(BUF_OUT, 0, 3, 2)]                                           # L5 [3, 2]
    a0, _ = tb.store_area(H * W * t, 1, 0)
    a1, _ = tb.store_area(wwords, 1, 0)
    sts = [StOp(kind=ST_FMAP, bank=0, addr=a0, seg_words=H * W * t, base=0, npix=H * W,
                lanes_valid=t, wait_computed=1),                           # S0 [1]
           StOp(kind=ST_W, addr=a1, seg_words=wwords, base=0, k=1, rows_valid=tb.tm,
                cols_valid=t, wait_computed=3)]                            # S1 [3]
    mon = GateMonitor(tb, lds, sts)
    task = cocotb.start_soon(mon.run())
    for o in lds:
        tb.send_ld(o, auto_wait=False)
    tb.send_st(sts[0], "gated OUT store", auto_wait=False)
    tb.send_st(sts[1], "gated W store", auto_wait=False)

    async def hold(cycles: int, loaded: int, stored: int, step: str) -> None:
        await tb.until(lambda: tb.cnt("loaded_cnt") >= loaded and tb.cnt("stored_cnt") >= stored,
                       200_000, f"gating {step}")
        await ClockCycles(dut.clk, cycles)
        got = (tb.cnt("loaded_cnt"), tb.cnt("stored_cnt"))
        assert got == (loaded, stored), f"gating {step}: counters {got}, want {(loaded, stored)} " \
                                        f"{tb.tag}"
        assert not mon.errors, f"{mon.errors[0]} {tb.tag}"

    quiet = 300 + 2 * tb.dram.latency
    await hold(quiet, 3, 0, "computed=0")
    assert mon.ld_start[3:] == [None] * 3 and mon.st_start == [None, None], \
        f"gated ops started early: {mon.ld_start} {mon.st_start} {tb.tag}"
    dut.computed_cnt.value = 1
    await hold(quiet, 3, 1, "computed=1")
    assert mon.ld_start[3:] == [None] * 3 and mon.st_start[1] is None, tb.tag
    dut.computed_cnt.value = 2
    await hold(quiet, 5, 1, "computed=2")
    assert mon.ld_start[5] is None and mon.st_start[1] is None, tb.tag
    dut.computed_cnt.value = 3
    await hold(20, 6, 2, "computed=3")
    mon.stop = True
    await task
    assert None not in mon.ld_start and None not in mon.st_start, tb.tag
    assert not mon.errors, f"{mon.errors[0]} {tb.tag}"
    assert mon.st_start[1] < mon.ld_start[5], "L5 must wait for S1"
    await tb.wait_done()
    await tb.check_fmap_region(BUF_IN, 1, 0, H * W + 3, f"gated fill + load (rep {rep})")
    await tb.abort()   # counters back to 0 for the next round
    dut._log.info("gating rep %d: load starts %s, store starts %s", rep, mon.ld_start,
                  mon.st_start)


@cocotb.test()
async def movers_gating(dut: object) -> None:
    """No op starts before computed_cnt / stored_cnt reach its waits; each starts once they do."""
    tb = await _start(dut)
    for rep in range(2):
        await _gating_round(tb, rep)

async def _clean_roundtrip(tb: TB, what: str) -> None:
    """A small load into IN (checked through the tb port) and an OUT load + store."""
    t, r = tb.tn, tb.rng
    n = r.randint(1, 6)
    words = tb.rand_words(n * t)
    a = tb.put(words)
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=r.randrange(2), addr=a, seg_words=n * t, base=5,
                    width=n, col_step=1, row_step=n))
    bank = r.randrange(2)
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_OUT, bank=bank, addr=a, seg_words=n * t, base=9, width=n,
                    col_step=1, row_step=n))
    addr, _ = tb.store_area(n * t, 1, 0)
    tb.send_st(StOp(kind=ST_FMAP, bank=bank, addr=addr, seg_words=n * t, base=9, npix=n,
                    lanes_valid=t), what)
    await tb.wait_done()
    for bk in (0, 1):
        known = np.nonzero((tb.m_buf[(BUF_IN, bk)] != UNKNOWN).all(axis=0))[0]
        if known.size:
            await tb.check_fmap_region(BUF_IN, bk, int(known.min()), int(known.max()) + 1, what)


@cocotb.test()
async def movers_errors(dut: object) -> None:
    """DMA errors: sticky err_valid with the status, nothing after it, no hang, abort recovers."""
    tb = await _start(dut)
    r, t, d = tb.rng, tb.tn, dut
    dut.computed_sel.value = 1
    for it in range(4):
        tb.stress(r.choice([0.0, 0.2]))
        resp = r.choice([RESP_SLVERR, RESP_DECERR])
        status = ST_SLVERR if resp == RESP_SLVERR else ST_DECERR
        ld0, st0 = tb.n_ld, tb.n_st   # ops of the previous clean round trip (counted)

        # Loads: a fill, L0 good, L1 (4 segments) hits a fault in segment 1 or 2, L2 good.
        seg = 8 * t
        good = tb.put(tb.rand_words(seg))
        bad = tb.put(tb.rand_words(4 * seg), misalign=False)
        tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_OUT, bank=1, base=0, count=64))
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=0, addr=good, seg_words=seg, width=8,
                        row_step=8))
        f_lo = bad + 4 * (seg * r.choice([1, 2]) + r.randrange(seg))
        tb.dram.faults.append((f_lo, f_lo + 4, resp))
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=1, addr=bad, nseg=4, seg_words=seg,
                        seg_stride=4 * seg, width=8, row_step=8))
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=0, addr=good, seg_words=seg, width=8,
                        row_step=8, base=100))
        # Stores (after the fill): S0 good, S1 into a fault, S2 good.
        sa = [tb.store_area(16 * t, 1, 0)[0] for _ in range(3)]
        w_lo = sa[1] + 4 * r.randrange(16 * t)
        tb.dram.faults.append((w_lo, w_lo + 4, resp))
        for k in range(3):
            tb.send_st(StOp(kind=ST_FMAP, bank=1, addr=sa[k], seg_words=16 * t, base=0, npix=16,
                            lanes_valid=t), f"error store {k}", check=False)

        await tb.until(lambda: tb.cnt("ld_err_valid") and tb.cnt("st_err_valid"), 200_000,
                       f"errors reported (iteration {it})")
        nb = 4 * tb.wpb
        assert (tb.cnt("ld_err_status"), tb.cnt("ld_err_addr")) == (status, f_lo - f_lo % nb), (
            f"load error {tb.cnt('ld_err_status')}/{tb.cnt('ld_err_addr'):#x}, want "
            f"{status}/{f_lo - f_lo % nb:#x} {tb.tag}")
        assert tb.cnt("st_err_status") == status, f"store error status {tb.state()} {tb.tag}"
        # No hang: the DMA read side drains without an abort; nothing more reaches the engine
        # or the write stream; loaded / stored counts stop before the failed op.
        beats0, wrs0 = tb.cnt("ld_beats"), tb.cnt("wrs_beats")
        await tb.until(lambda: not tb.cnt("rd_busy"), 50_000, "read drain after the error")
        await ClockCycles(d.clk, 200)
        assert (tb.cnt("ld_beats"), tb.cnt("wrs_beats")) == (beats0, wrs0), \
            f"beats after the error {tb.tag}"
        assert not tb.cnt("ld_quiet_bad") and not tb.cnt("st_quiet_bad"), \
            f"a mover acted while its err_valid was high {tb.tag}"
        assert (tb.cnt("loaded_cnt"), tb.cnt("stored_cnt")) == (ld0 + 2, st0 + 1), (
            f"ops counted around the errors: {tb.state()} {tb.tag}")
        # New ops are swallowed (the sequencer never hangs on op_ready).
        tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_IN, base=0, count=4))
        tb.send_st(StOp(kind=ST_FMAP, addr=sa[0], seg_words=t, npix=1, lanes_valid=t), "x",
                   check=False)
        await tb.until(lambda: tb.ld_src.empty() and tb.st_src.empty()
                       and not tb.cnt("ld_op_valid") and not tb.cnt("st_op_valid"), 1000,
                       "ops swallowed while failed")
        assert tb.cnt("ld_err_valid") and tb.cnt("st_err_valid"), "err_valid must be sticky"
        tb.dram.faults.clear()
        await tb.abort(r.randint(1, 3))
        await _clean_roundtrip(tb, f"after error iteration {it}")

    # An out-of-window read: status OUT_OF_WINDOW, address = the command's.
    a = tb.win_limit + 4096
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, addr=a, seg_words=t, width=1), auto_wait=False)
    await tb.until(lambda: tb.cnt("ld_err_valid"), 10_000, "out-of-window error")
    assert (tb.cnt("ld_err_status"), tb.cnt("ld_err_addr")) == (ST_OUT_OF_WINDOW, a), tb.state()
    await tb.abort()
    await _clean_roundtrip(tb, "after the window error")


@cocotb.test()
async def movers_abort(dut: object) -> None:
    """abort at random moments of long transfers: idle, counters 0, then clean round trips."""
    tb = await _start(dut)
    r, t, d = tb.rng, tb.tn, dut
    dut.computed_sel.value = 1
    for it in range(8):
        tb.stress(r.choice([0.0, 0.1, 0.3]))
        n = r.randint(50, 200)
        src = tb.put(tb.rand_words(n * t))
        # OUT bank 1 holds data before the program starts, so its stores stream at once, next to
        # the loads, and the abort can hit unload requests in flight.
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_OUT, bank=1, addr=src, seg_words=n * t, width=n,
                        row_step=n))
        await tb.wait_done()
        for k in range(3):
            tb.send_ld(LdOp(kind=LD_FILL, buf=BUF_IN, bank=k % 2, base=0, count=r.randint(1, 300)))
            tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=k % 2, addr=src, nseg=r.randint(1, 4),
                            seg_words=n * t // 4 // t * t or t, seg_stride=4 * t, width=n,
                            row_step=n))
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_OUT, bank=0, addr=src, seg_words=n * t, width=n,
                        row_step=n))
        for bank in (1, 0, 1):
            a, _ = tb.store_area(n * t, 1, 0)
            tb.send_st(StOp(kind=ST_FMAP, bank=bank, addr=a, seg_words=n * t, base=0, npix=n,
                            lanes_valid=t), "aborted", check=False)
        if it % 2:
            f = src + 4 * r.randrange(n * t)
            tb.dram.faults.append((f, f + 4, r.choice([RESP_SLVERR, RESP_DECERR])))
        await ClockCycles(d.clk, r.choice([0, 1, 5, 40, 150, r.randint(0, 2 * n)]))
        await tb.abort(r.randint(1, 3))
        tb.dram.faults.clear()
        await _clean_roundtrip(tb, f"after abort {it}")


@cocotb.test()
async def movers_throughput(dut: object) -> None:
    """One beat per cycle through both movers; back-to-back ops overlap the DRAM latency."""
    tb = await _start(dut)
    t, wpb, d = tb.tn, tb.wpb, dut
    dut.computed_sel.value = 1
    tb.stress(0.0)
    lat = 30
    tb.dram.latency = lat
    res: dict[str, object] = {"dram_latency": lat}

    async def measure() -> None:
        d.perf_clear.value = 1
        await ClockCycles(d.clk, 1)
        d.perf_clear.value = 0

    # (1) One long FMAP load: N beats, one per cycle.
    n_pix = 1024 // (t // wpb)
    src = tb.put(tb.rand_words(n_pix * t), misalign=False)
    await measure()
    t0 = tb.cnt("cycle")
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=0, addr=src, seg_words=n_pix * t, width=n_pix,
                    row_step=n_pix))
    await tb.wait_done()
    beats, span = tb.cnt("ld_beats"), tb.cnt("ld_last") - tb.cnt("ld_first") + 1
    total = tb.cnt("ld_last") - t0
    res["long_load"] = {"beats": beats, "stream_cycles": span, "op_to_last_beat": total}
    assert beats == n_pix * t // wpb and span <= beats + 4, f"long load: {beats} beats in {span} {tb.tag}"

    # (2) 16 back-to-back small loads (one segment of 16 beats each; FILLs in between).
    per = 16 * wpb
    srcs = [tb.put(tb.rand_words(per), misalign=False) for _ in range(16)]
    await measure()
    for k, a in enumerate(srcs):
        tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_IN, bank=k % 2, addr=a, seg_words=per,
                        width=per // t, row_step=per // t, base=(k // 2) * 16))
    await tb.wait_done()
    beats, span = tb.cnt("ld_beats"), tb.cnt("ld_last") - tb.cnt("ld_first") + 1
    res["16_small_loads"] = {"beats": beats, "stream_cycles": span,
                             "without_overlap_at_least": 16 * (lat + 16)}
    assert span <= beats + lat + 24, f"16 small loads: {beats} beats in {span} cycles {tb.tag}"

    # (3) One long store and (4) 16 small stores from OUT.
    tb.send_ld(LdOp(kind=LD_FMAP, buf=BUF_OUT, bank=0, addr=src, seg_words=n_pix * t, width=n_pix,
                    row_step=n_pix))
    await tb.wait_done()
    await measure()
    a, _ = tb.store_area(n_pix * t, 1, 0)
    tb.send_st(StOp(kind=ST_FMAP, bank=0, addr=a, seg_words=n_pix * t, npix=n_pix, lanes_valid=t),
               "throughput long store")
    await tb.wait_done()
    beats, span = tb.cnt("wrs_beats"), tb.cnt("wrs_last") - tb.cnt("wrs_first") + 1
    res["long_store"] = {"beats": beats, "stream_cycles": span}
    assert beats == n_pix * t // wpb and span <= beats + 4, f"long store: {beats} in {span} {tb.tag}"
    await measure()
    for k in range(16):
        a, _ = tb.store_area(per, 1, 0)
        tb.send_st(StOp(kind=ST_FMAP, bank=0, addr=a, seg_words=per, base=k * (per // t),
                        npix=per // t, lanes_valid=t), f"throughput store {k}")
    await tb.wait_done()
    beats, span = tb.cnt("wrs_beats"), tb.cnt("wrs_last") - tb.cnt("wrs_first") + 1
    res["16_small_stores"] = {"beats": beats, "stream_cycles": span}
    assert span <= beats + 24, f"16 small stores: {beats} beats in {span} cycles {tb.tag}"

    # (5) A K=3 weight tile.
    words = 9 * tb.tm * t
    wa = tb.put(tb.rand_words(words), misalign=False)
    await measure()
    tb.send_ld(LdOp(kind=LD_W, buf=BUF_W, addr=wa, seg_words=words, k=3, flip=1))
    await tb.wait_done()
    beats, span = tb.cnt("ld_beats"), tb.cnt("ld_last") - tb.cnt("ld_first") + 1
    res["w_tile_k3"] = {"beats": beats, "stream_cycles": span}
    assert beats == words // wpb and span <= beats + 4, f"W tile: {beats} in {span} {tb.tag}"

    # The data still right after all that.
    await tb.check_fmap_region(BUF_IN, 0, 0, 16 * 8, "throughput loads")
    Path("throughput.json").write_text(json.dumps(res, indent=1))
    dut._log.info("throughput: %s", res)
