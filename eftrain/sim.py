"""The main job (``make sim``): run FP, BP and WU of one layer and print a result table.

Backend ``rtl`` (default): the phases run on the Verilated engine in one simulation; every
output is compared bit for bit with the golden model (MATCH / MISMATCH) and the cycles are
the engine's measured tile-command cycles. Backend ``golden``: the bit-exact model alone,
checked against torch autograd in float64 within the bound of :mod:`eftrain.golden.tolerance`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from eftrain.config import HwConfig, preset
from eftrain.device import Device
from eftrain.golden import tolerance
from eftrain.golden.engine import check_fp_args
from eftrain.networks import ConvLayer

__all__ = ["DEFAULT_LAYER", "PhaseResult", "format_results", "layer_str", "parse_layer", "run"]

PHASES = ("fp", "bp", "wu")


DEFAULT_LAYER = ConvLayer("default", m=16, n=16, h=16, w=16, k=3, s=1, p=1)


def layer_str(layer: ConvLayer) -> str:
    return f"{layer.m},{layer.n},{layer.h},{layer.w},{layer.k},{layer.s},{layer.p}"


def parse_layer(text: str) -> ConvLayer:
    """Parse ``M,N,H,W,K,S,P`` (e.g. ``64,32,32,32,3,1,1``)."""
    parts = text.split(",")
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) != 7:
        raise ValueError(f"layer must be M,N,H,W,K,S,P (7 integers), got {text!r}")
    m, n, h, w, k, s, p = vals
    return ConvLayer("layer", m=m, n=n, h=h, w=w, k=k, s=s, p=p)


@dataclass
class PhaseResult:
    phase: str
    shape: str
    macs: int
    cycles: int
    utilization: float
    seconds: float
    check: str
    ok: bool
    predicted: int = 0          # the analytical model's cycles for the same tiling
    counters: dict | None = None


def _torch_reference(x, w, b, dy, layer: ConvLayer):
    """float64 autograd results and the absolute-value sums the bound needs."""
    f64 = torch.float64
    xt = torch.tensor(x, dtype=f64, requires_grad=True)
    wt = torch.tensor(w, dtype=f64, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, torch.tensor(b, dtype=f64), layer.s, layer.p)
    y.backward(torch.tensor(dy, dtype=f64))
    xa, wa, dya = (torch.tensor(np.abs(a), dtype=f64) for a in (x, w, dy))
    ya = torch.nn.functional.conv2d(xa, wa, torch.tensor(np.abs(b), dtype=f64), layer.s, layer.p)
    dxa = torch.nn.grad.conv2d_input(x.shape, wa, dya, layer.s, layer.p)
    dwa = torch.nn.grad.conv2d_weight(xa, w.shape, dya, layer.s, layer.p)
    return {
        "fp": (y.detach().numpy(), ya.numpy()),
        "bp": (xt.grad.numpy(), dxa.numpy()),
        "wu": (wt.grad.numpy(), dwa.numpy()),
    }


def _operands(layer: ConvLayer, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, layer.n, layer.h, layer.w)).astype(np.float32)
    w = (rng.standard_normal((layer.m, layer.n, layer.k, layer.k)) / np.sqrt(layer.n * layer.k**2)).astype(
        np.float32
    )
    b = rng.standard_normal(layer.m).astype(np.float32)
    dy = rng.standard_normal((batch, layer.m, layer.oh, layer.ow)).astype(np.float32)
    return x, w, b, dy


def _shape_text(mode: str, x, w, dy) -> str:
    if mode == "fp":
        return f"x{list(x.shape)} w{list(w.shape)} -> y{list(dy.shape)}"
    if mode == "bp":
        return f"dy{list(dy.shape)} w{list(w.shape)} -> dx{list(x.shape)}"
    return f"x{list(x.shape)} dy{list(dy.shape)} -> dw{list(w.shape)}"


def run(
    modes: list[str],
    config: str | HwConfig = "ci",
    layer: ConvLayer = DEFAULT_LAYER,
    batch: int = 2,
    seed: int = 1,
    backend: str = "rtl",
) -> list[PhaseResult]:
    """Run the given phases of ``layer``; on ``rtl`` compare with golden bit for bit."""
    cfg = preset(config)
    for mode in modes:
        if mode not in PHASES:
            raise ValueError(f"mode must be one of fp, bp, wu, got {mode!r}")
    if backend not in ("rtl", "golden"):
        raise ValueError(f"backend must be rtl or golden, got {backend!r}")
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    x, w, b, dy = _operands(layer, batch, seed)
    check_fp_args(x, w, b, layer.s, layer.p)  # unsupported K, stride or padding: a clear error first
    golden = Device("golden", cfg)
    gold_calls = {
        "fp": lambda: golden.conv2d(x, w, b, layer.s, layer.p),
        "bp": lambda: golden.conv2d_backward_input(dy, w, x.shape, layer.s, layer.p),
        "wu": lambda: golden.conv2d_backward_weight(x, dy, w.shape, layer.s, layer.p),
    }
    macs = layer.macs(batch)
    results = []
    if backend == "rtl":
        from eftrain import perf, rtl_backend

        args = {
            "fp": {"x": x, "w": w, "bias": b},
            "bp": {"dy": dy, "w": w, "x_shape": tuple(x.shape)},
            "wu": {"x": x, "dy": dy, "w_shape": tuple(w.shape)},
        }
        t0 = time.perf_counter()
        runs = rtl_backend.run_phases(
            cfg, [(m, dict(args[m], stride=layer.s, padding=layer.p)) for m in modes], name=f"sim-{seed}"
        )
        seconds = (time.perf_counter() - t0) / len(modes)
        for mode, run_ in zip(modes, runs, strict=True):
            gold = gold_calls[mode]()
            same = tolerance.bits_equal(run_.result, gold)
            if same:
                check = "MATCH"
            elif np.shape(run_.result) != np.shape(gold):
                check = f"MISMATCH (shape {np.shape(run_.result)}, golden {np.shape(gold)})"
            else:
                ndiff = int((~tolerance.same_bits(run_.result, gold)).sum())
                check = f"MISMATCH ({ndiff} of {run_.result.size} elements differ)"
            if run_.run_dir is not None:
                check += f"  waves: {run_.run_dir / 'dump.fst'}"
            util = macs / (cfg.tm * cfg.tn * run_.cycles)
            pred = perf.model_layer(layer, mode, cfg, batch, tiling=perf.Tiling(*run_.tiling),
                                    bias=mode == "fp").cycles
            results.append(PhaseResult(mode, _shape_text(mode, x, w, dy), macs, run_.cycles, util,
                                       seconds, check, same, pred, run_.counters))
        return results
    ref = _torch_reference(x, w, b, dy, layer)
    for mode in modes:
        t0 = time.perf_counter()
        out = gold_calls[mode]()
        seconds = time.perf_counter() - t0
        ops = {
            "fp": tolerance.fp_ops(cfg, layer.n, layer.k, bias=True),
            "bp": tolerance.bp_ops(cfg, layer.m, layer.k),
            "wu": tolerance.wu_ops(cfg, batch * layer.oh * layer.ow),
        }[mode]
        exact, abs_sum = ref[mode]
        err = np.abs(out.astype(np.float64) - exact)
        bound = tolerance.error_bound(abs_sum, ops)
        ok = bool(np.all(err <= bound))
        check = f"{'OK' if ok else 'FAIL'} (max err {float(np.max(err / bound)):.2f} x bound)"
        st = golden.stats
        results.append(PhaseResult(mode, _shape_text(mode, x, w, dy), st["macs"], st["cycles"],
                                   st["utilization"], seconds, check, ok))
    return results


def format_results(
    results: list[PhaseResult], config: HwConfig, layer: ConvLayer, batch: int, backend: str = "rtl"
) -> str:
    if backend == "rtl":
        head = [
            "backend : rtl (Verilator co-simulation of rtl/eftrain_top.sv: descriptor program from DRAM), "
            "compared bit for bit with the golden model",
            "cycles  : measured CYCLES counter (START to DONE); model: the analytical model's prediction "
            "(eftrain.perf, same tiling); util = MACs / (Tm*Tn*cycles)",
        ]
    else:
        head = [
            "backend : golden model (bit-exact functional model of the engine)",
            "cycles  : predicted by the analytical model (eftrain.perf); check: vs torch autograd float64 "
            "within the bound of eftrain.golden.tolerance",
        ]
    lines = [
        head[0],
        f"config  : {config.name} (Tm={config.tm}, Tn={config.tn}, L={config.acc_interleave}, "
        f"{config.clock_mhz:g} MHz)",
        f"layer   : M,N,H,W,K,S,P = {layer_str(layer)}   batch {batch}",
        head[1],
        "",
        f"{'mode':<5} {'shape':<56} {'MACs':>11} {'cycles':>10} {'model':>10} {'err':>6} {'util':>7} "
        f"{'sim s':>8}  check",
    ]
    for r in results:
        if r.predicted:
            model, err = f"{r.predicted:>10,}", f"{(r.predicted - r.cycles) / r.cycles:>+6.1%}"
        else:
            model, err = f"{'-':>10}", f"{'-':>6}"
        lines.append(
            f"{r.phase.upper():<5} {r.shape:<56} {r.macs:>11,} {r.cycles:>10,} {model} {err} "
            f"{r.utilization:>6.1%} {r.seconds:>8.3f}  {r.check}"
        )
    return "\n".join(lines)
