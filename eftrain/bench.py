"""Benchmarks of the RTL accelerator against the analytical model (``make bench``, ``eftrain bench``).

Every benchmarked layer phase runs on the whole top level (``rtl/eftrain_top.sv``, descriptor from
DRAM, the preset's DRAM latency) in the fast-mode simulation, and is checked bit for bit against
the golden model. Reported per layer phase:

* ``cycles``: the measured CYCLES counter (START to DONE: descriptor fetch, validation, every tile);
  ``utilization`` = MACs / (Tm*Tn*cycles);
* ``predicted_cycles``: :func:`eftrain.perf.model_layer` for the SAME tiling the descriptor
  carried, and ``model_error`` = predicted / measured - 1;
* DRAM traffic measured on the AXI master (read/write beats and bursts) next to the model's
  :func:`eftrain.perf.dram_traffic` for the reshaped layout the hardware uses, and the model's
  figures for a plain NCHW layout (bursts, bytes, and the cycles a DMA would need that paid its
  start-up per contiguous range, as a host-sequenced DMA does; the RTL implements only the
  reshaped layout, so the plain figures are the model's);
* simulation speed: simulated cycles per second of wall time in the run proper, and the share of
  the whole call's wall time spent outside it (Python: packing, files, simulator start-up,
  read-back; nothing runs in Python per cycle).

Suites: ``cifar_vgg`` (the VGG-11-width CIFAR-10 network of :mod:`eftrain.networks`, all conv
layers and the FC layer), ``vgg16`` (VGG-16's 13 conv layers with full channel counts and the
spatial size scaled down so a run takes seconds, not hours: :func:`scaled_vgg16`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.networks import ConvLayer, get_network

__all__ = ["BenchRow", "bench_layer", "format_rows", "plot_rows", "scaled_vgg16", "suite"]

PHASES = ("fp", "bp", "wu")


@dataclass
class BenchRow:
    """One benchmarked layer phase."""

    suite: str
    layer: str
    phase: str
    shape: str              # M,N,H,W,K,S,P
    batch: int
    tr: int
    chunk: int
    macs: int
    cycles: int
    utilization: float
    predicted_cycles: int
    model_error: float
    bit_exact: bool
    rd_beats: int
    wr_beats: int
    rd_bursts: int
    wr_bursts: int
    stall_cycles: int
    model_bursts: int       # model, reshaped layout (what the RTL does)
    model_bytes: int
    plain_bursts: int       # model, plain NCHW layout
    plain_bytes: int
    reshaped_cycles_per_range: int   # model: a DMA paying start-up per contiguous range
    plain_cycles_per_range: int
    sim_cycles_per_s: float
    python_share: float
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scaled_vgg16(scale: int = 8) -> list[ConvLayer]:
    """VGG-16's conv layers with full channel counts and the maps shrunk by ``scale`` (at least
    4 x 4 pixels), so every layer keeps its channel tiling and weight-chunking behaviour."""
    out = []
    for layer in get_network("vgg16"):
        size = max(4, layer.h // scale)
        out.append(replace(layer, h=size, w=size))
    return out


def suite(name: str) -> list[ConvLayer]:
    """The layers of a benchmark suite (``cifar_vgg``, ``vgg16``, ``smoke``)."""
    if name == "cifar_vgg":
        return get_network("cifar_vgg")
    if name == "vgg16":
        return scaled_vgg16()
    if name == "smoke":   # a quick check of the bench itself
        return [ConvLayer("smoke", m=16, n=16, h=8, w=8, k=3, s=1, p=1)]
    raise ValueError(f"unknown suite {name!r}; known: cifar_vgg, vgg16, smoke")


def _operands(layer: ConvLayer, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.float32
    return {
        "x": rng.standard_normal((batch, layer.n, layer.h, layer.w)).astype(f),
        "w": (rng.standard_normal((layer.m, layer.n, layer.k, layer.k))
              / np.sqrt(layer.n * layer.k ** 2)).astype(f),
        "b": rng.standard_normal(layer.m).astype(f),
        "dy": rng.standard_normal((batch, layer.m, layer.oh, layer.ow)).astype(f),
    }


def bench_layer(layer: ConvLayer, cfg: HwConfig | str, batch: int, phases: tuple[str, ...] = PHASES, *,
                suite_name: str = "", seed: int = 1, check: bool = True) -> list[BenchRow]:
    """Run ``phases`` of ``layer`` on the RTL (one simulation per phase); one row each."""
    from eftrain import perf, rtl_backend
    from eftrain.golden import engine
    from eftrain.golden.tolerance import bits_equal

    c = preset(cfg)
    ops = _operands(layer, batch, seed)
    s, p = layer.s, layer.p
    args = {
        "fp": {"x": ops["x"], "w": ops["w"], "bias": ops["b"]},
        "bp": {"dy": ops["dy"], "w": ops["w"], "x_shape": tuple(ops["x"].shape)},
        "wu": {"x": ops["x"], "dy": ops["dy"], "w_shape": tuple(ops["w"].shape)},
    }
    rows = []
    for phase in phases:
        t0 = time.perf_counter()
        run = rtl_backend.run_phases(c, [(phase, dict(args[phase], stride=s, padding=p))],
                                     name=f"bench-{layer.name}-{phase}")[0]
        wall = time.perf_counter() - t0
        exact = True
        if check:
            gold = {
                "fp": lambda: engine.conv_fp(ops["x"], ops["w"], ops["b"], s, p, c),
                "bp": lambda: engine.conv_bp(ops["dy"], ops["w"], ops["x"].shape, s, p, c),
                "wu": lambda: engine.conv_wu(ops["x"], ops["dy"], ops["w"].shape, s, p, c),
            }[phase]()
            exact = bits_equal(run.result, gold)
        tiling = perf.Tiling(*run.tiling)
        pred = perf.model_layer(layer, phase, c, batch, tiling=tiling, bias=phase == "fp")
        resh = perf.dram_traffic(layer, phase, c, batch, tiling=tiling, kind="reshaped")
        plain = perf.dram_traffic(layer, phase, c, batch, tiling=tiling, kind="plain")
        k = run.counters
        rows.append(BenchRow(
            suite=suite_name, layer=layer.name, phase=phase,
            shape=f"{layer.m},{layer.n},{layer.h},{layer.w},{layer.k},{layer.s},{layer.p}",
            batch=batch, tr=run.tiling[0], chunk=run.tiling[1], macs=run.macs, cycles=run.cycles,
            utilization=run.macs / (c.tm * c.tn * run.cycles), predicted_cycles=pred.cycles,
            model_error=pred.cycles / run.cycles - 1.0, bit_exact=exact,
            rd_beats=k["AXI_RD_BEATS"], wr_beats=k["AXI_WR_BEATS"], rd_bursts=k["AXI_RD_BURSTS"],
            wr_bursts=k["AXI_WR_BURSTS"], stall_cycles=k["STALL_CYCLES"],
            model_bursts=resh.bursts, model_bytes=resh.bytes, plain_bursts=plain.bursts,
            plain_bytes=plain.bytes, reshaped_cycles_per_range=resh.dma_cycles_per_range,
            plain_cycles_per_range=plain.dma_cycles_per_range,
            sim_cycles_per_s=run.cycles / max(run.sim_seconds, 1e-9),
            python_share=max(0.0, 1.0 - run.sim_seconds / wall), wall_s=wall))
    return rows


def format_rows(rows: list[BenchRow], cfg: HwConfig) -> str:
    head = (f"{'layer':<10} {'ph':<3} {'M,N,H,W,K,S,P':<22} {'B':>3} {'tr':>3} {'ch':>3} {'cycles':>11} "
            f"{'model':>11} {'err':>7} {'util':>6} {'exact':>5} {'rd/wr bursts':>13} {'model':>7} "
            f"{'plain':>7} {'Mcyc/s':>7} {'py%':>5}")
    lines = [f"eftrain bench: preset {cfg.name} (Tm={cfg.tm}, Tn={cfg.tn}, {cfg.bus_bits}-bit AXI, "
             f"DRAM latency {cfg.dram_latency} cycles); cycles measured on rtl/eftrain_top.sv, model = "
             f"eftrain.perf for the same tiling", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.layer:<10} {r.phase:<3} {r.shape:<22} {r.batch:>3} {r.tr:>3} {r.chunk:>3} {r.cycles:>11,} "
            f"{r.predicted_cycles:>11,} {r.model_error:>+7.2%} {r.utilization:>6.1%} "
            f"{'yes' if r.bit_exact else 'NO':>5} {f'{r.rd_bursts}/{r.wr_bursts}':>13} "
            f"{r.model_bursts:>7} {r.plain_bursts:>7} {r.sim_cycles_per_s / 1e6:>7.3f} "
            f"{r.python_share:>5.1%}")
    if rows:
        tot_c = sum(r.cycles for r in rows)
        tot_p = sum(r.predicted_cycles for r in rows)
        macs = sum(r.macs for r in rows)
        worst = max(rows, key=lambda r: abs(r.model_error))
        lines += ["-" * len(head),
                  f"total: {tot_c:,} cycles measured, {tot_p:,} predicted ({tot_p / tot_c - 1:+.2%}), "
                  f"utilization {macs / (cfg.tm * cfg.tn * tot_c):.1%}; worst model error "
                  f"{worst.model_error:+.2%} ({worst.layer} {worst.phase}); "
                  f"all bit-exact: {all(r.bit_exact for r in rows)}"]
    return "\n".join(lines)


def plot_rows(rows: list[BenchRow], path: str | Path, title: str = "") -> Path:
    """Bar chart: measured vs predicted utilization per layer phase (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.layer}\n{r.phase}" for r in rows]
    meas = [r.utilization for r in rows]
    pred = [r.utilization * r.cycles / r.predicted_cycles for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) + 2), 4.2))
    ax.bar(x - 0.2, meas, 0.4, label="measured (RTL)")
    ax.bar(x + 0.2, pred, 0.4, label="analytical model")
    ax.axhline(0.95, color="grey", lw=0.8, ls="--", label="95 % target")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_ylabel("utilization (MACs / (Tm*Tn*cycles))")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "EF-Train RTL: measured vs model")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
