#!/usr/bin/env python3
"""Step 2: DMA loopback. Data goes out of DRAM through the accelerator and back, bit for bit.

The descriptor format has no pure data-move op, so the loopback is the smallest program that
reads a tensor through the AXI master and writes one back: a 1 x 1 convolution (FP) with M = N =
Tn channels and identity weights. Every output word is ``1.0 * x + (+0.0 * other inputs)``, which
IEEE-754 arithmetic returns unchanged for every finite x except -0.0; so the input holds random bit
patterns (subnormals included) with NaN, Inf and -0.0 left out, and y must equal x bit for bit.
It exercises what later steps rely on: the window, descriptor fetch, read and write bursts
(several 4 KiB pages), cache maintenance of the DMA buffer, the interrupt. Also checked: the
inputs and a guard region after the output are unchanged (the DMA wrote nowhere else), the
write-beat counter equals the output size, and the throughput.

    python board/bringup/02_dma_loopback.py [--size 24] [--sim]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board.bringup._common import Outcome, bits_differ, main, next_step

GUARD = 0xDEAD_BEEF


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=None,
                   help="rows = columns of the map (default 32; 8 with --sim)")
    p.add_argument("--batch", type=int, default=2)


def loopback_input(rng: Any, shape: tuple[int, ...]) -> Any:
    """Random float32 bit patterns, finite, never -0.0 (the identity convolution keeps them)."""
    import numpy as np

    bits = rng.integers(0, 1 << 32, size=shape, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    bad = ~np.isfinite(x) | (bits == 0x8000_0000)
    x[bad] = np.float32(1.5)
    return x


def step(drv: Any, args: Any) -> Outcome:
    import numpy as np

    from eftrain import program
    from eftrain.golden import engine

    cfg = drv.config
    size = args.size or (8 if args.sim else 32)
    b, c = args.batch, cfg.tn
    rng = np.random.default_rng(args.seed)
    x = loopback_input(rng, (b, c, size, size))
    w = np.eye(c, dtype=np.float32).reshape(c, c, 1, 1)
    phases = [("fp", {"x": x, "w": w, "stride": 1, "padding": 0})]
    plan = drv.plan(drv.layer_bytes(phases) + 4096)
    lp = program.layer_program(cfg, "fp", x=x, w=w, plan=plan, program=False)
    guard_addr = plan.alloc("guard", np.full(1024, GUARD, np.uint32))
    run = drv.execute(plan, lp.descriptors)
    out = plan.regions[lp.output]
    y = lp.decode(drv.words(out.addr, out.data.size))
    lines: list[str] = []
    diff = bits_differ(y, x)
    golden = bits_differ(engine.conv_fp(x, w, None, 1, 0, cfg), x)
    lines.append(f"x, y          [{b}, {c}, {size}, {size}] float32, {x.nbytes:,} bytes each way")
    lines.append(f"y == x        {y.size - diff:,} of {y.size:,} words bit-exact"
                 f"{'' if golden == 0 else f' (golden itself differs in {golden})'}")
    untouched = {}
    for name in ("x", "w"):
        r = plan.regions[name]
        untouched[name] = bool(np.array_equal(drv.words(r.addr, r.data.size), r.data))
    untouched["guard"] = bool(np.all(drv.words(guard_addr, 1024) == GUARD))
    marks = ", ".join(f"{k} {'ok' if v else 'OVERWRITTEN'}" for k, v in untouched.items())
    lines.append(f"unchanged     {marks}")
    cnt = run.counters
    wpb = cfg.words_per_beat
    wr_expect = out.data.size // wpb
    rd_min = (plan.regions["x"].data.size + plan.regions["w"].data.size) // wpb
    beats_ok = cnt["AXI_WR_BEATS"] == wr_expect and cnt["AXI_RD_BEATS"] >= rd_min
    lines.append(f"AXI beats     read {cnt['AXI_RD_BEATS']:,} (>= {rd_min:,}) "
                 f"in {cnt['AXI_RD_BURSTS']} bursts, "
                 f"write {cnt['AXI_WR_BEATS']:,} (== {wr_expect:,}) in {cnt['AXI_WR_BURSTS']} bursts  "
                 f"{'ok' if beats_ok else 'WRONG'}")
    seconds = cnt["CYCLES"] / (cfg.clock_mhz * 1e6)
    moved = (cnt["AXI_RD_BEATS"] + cnt["AXI_WR_BEATS"]) * cfg.bus_bits // 8
    peak = cfg.bus_bits // 8 * cfg.clock_mhz * 1e6 * 2
    lines.append(f"throughput    {moved:,} bytes in {cnt['CYCLES']:,} cycles = "
                 f"{moved / seconds / 1e6:,.0f} MB/s "
                 f"(read+write peak {peak / 1e6:,.0f} MB/s); host wall {1e3 * run.wall_seconds:.2f} ms")
    lines.append(f"window        [{plan.base:#x}, {plan.limit:#x})")
    ok = diff == 0 and all(untouched.values()) and beats_ok
    if not ok:
        return Outcome(False, "the loopback lost or misplaced data",
                       "y != x with the registers fine points at the HP0 path: the DMA buffer's cache "
                       "maintenance (flush/invalidate), the HP0 data width (128), the SmartConnect address "
                       "map (HP0_DDR_LOW/HIGH assigned); overwritten regions point at the window registers",
                       lines, {"diff": diff})
    return Outcome(True, f"{x.nbytes:,} bytes through the accelerator and back, bit-exact, "
                         "nothing else written",
                   next_step("02_dma_loopback", bool(args.sim)), lines, {"counters": cnt})


if __name__ == "__main__":
    sys.exit(main(__file__, step, __doc__ or "", add_args))
