"""The analytical model (eftrain.perf) against the RTL: measured cycles of representative layer phases.

Seven layer phases run as consecutive programs of ONE simulation of ``rtl/eftrain_top.sv`` at the
``ci`` preset (eftrain.rtl_backend.run_phases), each with a fixed tiling; the model must predict
every measured CYCLES count within 3 % (SPEC section 7). The counts are deterministic (simulated
cycles, not wall-clock time); when this test was written the model gave each one exactly.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from eftrain import perf, rtl_backend
from eftrain.config import preset
from eftrain.networks import ConvLayer, fc_layer

SEED = 20220223
TOLERANCE = 0.03

# (what it exercises, layer, phase, batch, (tr, chunk), bias)
CASES = [
    ("FP, bias, 3 row tiles: the zero fill of the next row tile holds a command back",
     ConvLayer("rows", 3, 4, 8, 8, 3, 1, 1), "fp", 1, (3, 1), True),
    ("FP, bias, 2 lane tiles x 2 chunks x 2 row tiles: partial outputs back, weight regions",
     ConvLayer("chunks", 8, 8, 6, 6, 3, 1, 1), "fp", 1, (3, 1), True),
    ("FP, bias, one reduction tile per lane tile: the bias load waits for the last command",
     ConvLayer("bias", 16, 4, 8, 8, 3, 1, 1), "fp", 2, (5, 1), True),
    ("BP, stride 2: zero-inserted gradient map, 2 images",
     ConvLayer("bp_s2", 8, 6, 9, 9, 3, 2, 1), "bp", 2, (9, 2), False),
    ("WU, 2 lane tiles x 2 chunks: the dW stores between COMBINE and the next CLEAR",
     ConvLayer("wu", 8, 8, 6, 6, 3, 1, 1), "wu", 1, (3, 1), False),
    ("FC FP, batch 4 folded into the width, bias: one DMA command per pixel",
     fc_layer("fc_fp", 10, 16), "fp", 4, (1, 4), True),
    ("FC WU, batch 3, 4 chunks", fc_layer("fc_wu", 22, 40), "wu", 3, (1, 3), False),
]


def _arrays(layer: ConvLayer, phase: str, batch: int, tiling: tuple[int, int], bias: bool,
            rng: np.random.Generator) -> dict[str, Any]:
    f = np.float32
    x_shape = (batch, layer.n, layer.h, layer.w)
    w_shape = (layer.m, layer.n, layer.k, layer.k)
    a: dict[str, Any] = {"stride": layer.s, "padding": layer.p, "tiling": tiling}
    if phase == "fp":
        a.update(x=rng.standard_normal(x_shape).astype(f), w=rng.standard_normal(w_shape).astype(f),
                 bias=rng.standard_normal(layer.m).astype(f) if bias else None)
    elif phase == "bp":
        a.update(dy=rng.standard_normal((batch, layer.m, layer.oh, layer.ow)).astype(f),
                 w=rng.standard_normal(w_shape).astype(f), x_shape=x_shape)
    else:
        a.update(x=rng.standard_normal(x_shape).astype(f),
                 dy=rng.standard_normal((batch, layer.m, layer.oh, layer.ow)).astype(f), w_shape=w_shape)
    return a


def test_model_predicts_the_rtl_cycles():
    cfg = preset("ci")
    rng = np.random.default_rng(SEED)
    programs = [(phase, _arrays(layer, phase, batch, tiling, bias, rng))
                for _, layer, phase, batch, tiling, bias in CASES]
    runs = rtl_backend.run_phases(cfg, programs, name=f"perf-rtl-{os.getpid()}")
    rows, bad = [], []
    for (what, layer, phase, batch, tiling, bias), run in zip(CASES, runs, strict=True):
        assert run.tiling == tiling, (layer.name, phase, run.tiling)
        pred = perf.model_layer(layer, phase, cfg, batch, tiling=perf.Tiling(*tiling), bias=bias)
        err = pred.cycles / run.cycles - 1
        rows.append(f"{layer.name:>7} {phase} B{batch} {tiling}: measured {run.cycles:>6}, "
                    f"model {pred.cycles:>6} ({err:+.2%})  {what}")
        if abs(err) > TOLERANCE:
            bad.append(rows[-1])
    print("\n".join(rows))
    assert not bad, f"model error above {TOLERANCE:.0%} (seed {SEED}):\n" + "\n".join(bad)
