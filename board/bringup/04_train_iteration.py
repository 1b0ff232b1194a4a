#!/usr/bin/env python3
"""Step 4: one training iteration of a small network, with wall time, GFLOPS and power.

For now an iteration is the convolution engine's part of training: FP of every conv/FC layer
of ``eftrain.networks`` (``lenet`` or ``cifar_vgg``) in forward order, then BP (where the layer
needs an input gradient) and WU of every layer in backward order, all as ONE descriptor program
(the host only starts it and waits for the interrupt). Tensors are random (ReLU, pooling and the
loss are not on the accelerator yet); every output is checked against the golden model.

Figures: hardware time (CYCLES counter at the preset clock), host wall time (START to the
interrupt), GFLOPS (2 FLOPs per useful MAC), and, where the ZCU102's INA226 rail monitors are
readable (``/sys/class/hwmon``, PYNQ image), the mean board power while the program repeats for
``--min-seconds`` and GFLOPS/W. Without the monitors power is skipped with a note.

    python board/bringup/04_train_iteration.py [--net lenet|cifar_vgg] [--batch 2] [--sim]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board.bringup._common import Outcome, bits_differ, main, next_step


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default="lenet", choices=["lenet", "cifar_vgg"])
    p.add_argument("--batch", type=int, default=None, help="images per batch (default 2; 1 with --sim)")
    p.add_argument("--min-seconds", type=float, default=None,
                   help="repeat the program at least this long while power is sampled "
                        "(default 2; 0 with --sim)")
    p.add_argument("--no-check", action="store_true", help="skip the golden comparison (fast on big nets)")


def iteration(net: str, batch: int, seed: int) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(layer, phase, ConvLayer, arrays) of one iteration, in program order."""
    import numpy as np

    from eftrain.networks import get_network

    rng = np.random.default_rng(seed)
    layers = get_network(net)
    data = {}
    for L in layers:
        data[L.name] = {
            "x": rng.standard_normal((batch, L.n, L.h, L.w)).astype(np.float32),
            "w": (rng.standard_normal((L.m, L.n, L.k, L.k)) / np.sqrt(L.n * L.k * L.k)).astype(np.float32),
            "dy": rng.standard_normal((batch, L.m, L.oh, L.ow)).astype(np.float32),
        }
    out = []
    for L in layers:
        d = data[L.name]
        out.append((L.name, "fp", L, {"x": d["x"], "w": d["w"], "stride": L.s, "padding": L.p}))
    for L in reversed(layers):
        d = data[L.name]
        if L.input_grad:
            out.append((L.name, "bp", L, {"dy": d["dy"], "w": d["w"], "x_shape": d["x"].shape,
                                          "stride": L.s, "padding": L.p}))
        out.append((L.name, "wu", L, {"x": d["x"], "dy": d["dy"], "w_shape": d["w"].shape,
                                      "stride": L.s, "padding": L.p}))
    return out


def golden(cfg: Any, phase: str, a: dict[str, Any]) -> Any:
    from eftrain.golden import engine

    s, p = a["stride"], a["padding"]
    if phase == "fp":
        return engine.conv_fp(a["x"], a["w"], None, s, p, cfg)
    if phase == "bp":
        return engine.conv_bp(a["dy"], a["w"], a["x_shape"], s, p, cfg)
    return engine.conv_wu(a["x"], a["dy"], a["w_shape"], s, p, cfg)


def step(drv: Any, args: Any) -> Outcome:
    from board.pynq.power import PowerSampler, find_rails

    cfg = drv.config
    batch = args.batch or (1 if args.sim else 2)
    min_s = args.min_seconds if args.min_seconds is not None else (0.0 if args.sim else 2.0)
    ops = iteration(args.net, batch, args.seed)
    phases = [(phase, arrays) for _, phase, _, arrays in ops]
    plan, lps = drv.prepare(phases)
    descs = [d for lp in lps for d in lp.descriptors]
    macs = sum(L.phase_macs(phase, batch) for _, phase, L, _ in ops)
    lines = [f"network {args.net}, batch {batch}: {len(descs)} descriptors in one program, "
             f"{macs:,} MACs, preset {cfg.name} ({cfg.tm}x{cfg.tn} at {cfg.clock_mhz:g} MHz)"]
    run = drv.execute(plan, descs)
    bad = []
    if not args.no_check:
        for (name, phase, _, arrays), lp in zip(ops, lps, strict=True):
            r = plan.regions[lp.output]
            diff = bits_differ(lp.decode(drv.words(r.addr, r.data.size)), golden(cfg, phase, arrays))
            if diff:
                bad.append(f"{name}.{phase.upper()} ({diff} differ)")
        verdict = "every output bit-exact" if not bad else "DIFFER: " + ", ".join(bad)
        lines.append(f"golden        {verdict}")
    else:
        lines.append("golden        not checked (--no-check)")
    cyc = run.cycles
    hw_s = cyc / (cfg.clock_mhz * 1e6)
    gflops = 2 * macs / hw_s / 1e9
    util = macs / (cfg.tm * cfg.tn * cyc)
    lines.append(f"hardware      {cyc:,} cycles = {1e3 * hw_s:.3f} ms, {gflops:.2f} GFLOPS "
                 f"({100 * util:.1f}% of the {cfg.peak_gflops:g} GFLOPS peak)")
    lines.append(f"host wall     {1e3 * run.wall_seconds:.3f} ms (START to interrupt seen), "
                 f"{2 * macs / run.wall_seconds / 1e9:.2f} GFLOPS")
    c = run.counters
    lines.append(f"DRAM          {(c['AXI_RD_BEATS'] + c['AXI_WR_BEATS']) * cfg.bus_bits // 8:,} bytes "
                 f"({c['AXI_RD_BURSTS']:,} read / {c['AXI_WR_BURSTS']:,} write bursts)")
    data = {"cycles": cyc, "macs": macs, "gflops": gflops, "wall_seconds": run.wall_seconds}
    rails = find_rails()
    if not rails:
        lines.append("power         skipped: no INA226 monitors under /sys/class/hwmon (on a PYNQ ZCU102 "
                     "image the ina2xx driver exposes the PMBus rails; GFLOPS/W needs them)")
    else:
        repeats = 0
        t0 = time.perf_counter()
        with PowerSampler(rails) as ps:
            while True:
                drv.run(run.prog_addr, len(descs), run.window, descriptors=descs)
                repeats += 1
                if time.perf_counter() - t0 >= min_s:
                    break
        watts = ps.mean_watts
        if watts:
            lines.append(f"power         {watts:.2f} W over {len(rails)} rails, {len(ps.samples)} samples "
                         f"while the program ran {repeats} times")
            top = sorted(ps.per_rail.items(), key=lambda kv: -kv[1])[:4]
            lines.append("              " + ", ".join(f"{k} {v:.2f} W" for k, v in top))
            lines.append(f"efficiency    {gflops / watts:.2f} GFLOPS/W (hardware GFLOPS / board power)")
            data.update(watts=watts, gflops_per_watt=gflops / watts)
        else:
            lines.append("power         skipped: the INA226 monitors could not be read")
    if bad:
        return Outcome(False, f"{len(bad)} outputs differ from the golden model",
                       "03_layers passed? then look at descriptor sequencing: run the same program with "
                       "--sim and compare the failing layer", lines, data)
    return Outcome(True, f"{args.net} iteration (batch {batch}) in {1e3 * hw_s:.3f} ms, {gflops:.2f} GFLOPS"
                         + (f", {data['gflops_per_watt']:.2f} GFLOPS/W" if "gflops_per_watt" in data else ""),
                   next_step("04_train_iteration", bool(args.sim)), lines, data)


if __name__ == "__main__":
    sys.exit(main(__file__, step, __doc__ or "", add_args))
