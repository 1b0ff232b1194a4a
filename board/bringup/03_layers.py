#!/usr/bin/env python3
"""Step 3: one convolution layer per mode (FP, BP, WU) on the accelerator against the golden model.

Each phase is its own one-descriptor program; the result must equal ``eftrain.golden.engine``
bit for bit (the same arithmetic order, SPEC section 4). Also printed: measured cycles, array
utilization and GFLOPS at the preset clock, and the analytical model's prediction.

    python board/bringup/03_layers.py [--layer B,M,N,H,W,K,S,P] [--small] [--sim]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board.bringup._common import Outcome, bits_differ, main, next_step, phase_figures

BOARD_LAYER = (2, 32, 32, 16, 16, 3, 1, 1)   # B, M, N, H, W, K, S, P
SMALL_LAYER = (2, 6, 5, 7, 6, 3, 1, 1)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", default=None, help=f"B,M,N,H,W,K,S,P (default {BOARD_LAYER}; "
                                                 f"with --sim or --small {SMALL_LAYER})")
    p.add_argument("--small", action="store_true", help=f"the small layer {SMALL_LAYER}")
    p.add_argument("--bias", action="store_true", help="FP with a bias vector")


def step(drv: Any, args: Any) -> Outcome:
    import numpy as np

    from eftrain import perf
    from eftrain.golden import engine
    from eftrain.networks import ConvLayer

    cfg = drv.config
    if args.layer:
        layer = tuple(int(v) for v in args.layer.split(","))
        if len(layer) != 8:
            raise ValueError(f"--layer needs 8 integers B,M,N,H,W,K,S,P, got {args.layer!r}")
    else:
        layer = SMALL_LAYER if (args.small or args.sim) else BOARD_LAYER
    b, m, n, h, w, k, s, p = layer
    conv = ConvLayer("layer", m=m, n=n, h=h, w=w, k=k, s=s, p=p)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((b, n, h, w)).astype(np.float32)
    wt = rng.standard_normal((m, n, k, k)).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32) if args.bias else None
    dy = rng.standard_normal((b, m, conv.oh, conv.ow)).astype(np.float32)
    calls = {
        "fp": ({"x": x, "w": wt, "bias": bias}, lambda: engine.conv_fp(x, wt, bias, s, p, cfg)),
        "bp": ({"dy": dy, "w": wt, "x_shape": x.shape}, lambda: engine.conv_bp(dy, wt, x.shape, s, p, cfg)),
        "wu": ({"x": x, "dy": dy, "w_shape": wt.shape}, lambda: engine.conv_wu(x, dy, wt.shape, s, p, cfg)),
    }
    lines = [f"layer  B={b} M={m} N={n} H={h} W={w} K={k} S={s} P={p}, preset {cfg.name} ({cfg.tm}x{cfg.tn})"]
    ok = True
    bad = []
    for phase, (arrays, golden) in calls.items():
        run = drv.run_layer(phase, stride=s, padding=p, **arrays)
        want = golden()
        diff = bits_differ(run.result, want)
        pred = perf.model_layer(conv, phase, cfg, batch=b, tiling=perf.Tiling(*run.tiling))
        dev = 100 * (run.cycles - pred.cycles) / pred.cycles
        macs = conv.phase_macs(phase, b)
        lines.append(f"{phase.upper()}  {phase_figures(cfg, macs, run.cycles)}  model {pred.cycles:,} "
                     f"({dev:+.1f}%)  {'MATCH' if diff == 0 else f'{diff} of {want.size} DIFFER'}")
        if diff:
            ok = False
            bad.append(phase.upper())
    if not ok:
        return Outcome(False, f"{', '.join(bad)} differ from the golden model",
                       "step 02 passed, so data moves: a difference here is arithmetic or layout; "
                       "run the same layer in simulation (--sim --preset zcu102 --layer ...) and compare; "
                       "check the bitstream's preset (01_id)", lines)
    return Outcome(True, "FP, BP and WU bit-exact with the golden model",
                   next_step("03_layers", bool(args.sim)), lines)


if __name__ == "__main__":
    sys.exit(main(__file__, step, __doc__ or "", add_args))
