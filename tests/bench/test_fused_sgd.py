"""Benchmark: SGD fused into WU's write-back (``Flag.SGD``) against WU then an SGD descriptor.

For a 3x3 convolution and a fully connected layer at the ci and zcu102 presets, both forms run on
the top-level RTL (``tb/top/runner.py``, fast mode) from the same DRAM image; the figures printed
are the measured CYCLES of each program and the analytical model's prediction. Asserts only that
both forms leave the golden machine's DRAM image (weights and momentum buffers bit for bit);
the cycle figures are reported, not asserted. Run:
``.venv/bin/python -m pytest -m bench -s tests/bench/test_fused_sgd.py`` (the zcu102 top takes
several minutes to build).
"""

from __future__ import annotations

import numpy as np
import pytest

from eftrain import perf
from eftrain.config import preset
from eftrain.descriptors import Descriptor, Flag, Opcode, encode_program, scalar_words, with_tiling
from eftrain.golden.layout import fmap_layout, weight_layout
from eftrain.machine import GoldenMachine
from eftrain.program import POISON, MemoryPlan
from tb.top import runner

pytestmark = pytest.mark.bench
F32 = np.float32
LAYERS = {
    "conv 32x32 3x3, 8x8, batch 1": (Opcode.CONV_WU,
                                     dict(batch=1, m=32, n=32, h=8, w=8, k=3, stride=1, pad=1)),
    "FC 96->64, batch 4": (Opcode.FC_WU, dict(batch=4, m=64, n=96, h=1, w=1, k=1, stride=1, pad=0)),
}


def _run(cfg: str, opc: Opcode, dims: dict[str, int], fused: bool) -> tuple[int, int]:
    c = preset(cfg)
    rng = np.random.default_rng(1)
    sc = (0, 0, *scalar_words(0.05, 0.9, 5e-4))
    plan = MemoryPlan(runner.MEM_BASE, runner.MEM_BASE + (16 << 20))
    xs = (dims["batch"], dims["n"], dims["h"], dims["w"])
    ys = (dims["batch"], dims["m"], dims["h"], dims["w"])
    wl = weight_layout(c, (dims["m"], dims["n"], dims["k"], dims["k"]))
    a = {"x": plan.alloc("x", fmap_layout(c, xs).pack(rng.standard_normal(xs).astype(F32)).view(np.uint32)),
         "dy": plan.alloc("dy", fmap_layout(c, ys).pack(rng.standard_normal(ys).astype(F32)).view(np.uint32)),
         "w": plan.alloc("w", rng.standard_normal(wl.size).astype(F32).view(np.uint32)),
         "v": plan.alloc("v", (rng.standard_normal(wl.size) * 0.01).astype(F32).view(np.uint32))}
    if fused:
        descs = [Descriptor(opcode=opc, flags=int(Flag.SGD), src0=a["x"], src1=a["dy"], src2=a["v"],
                            dst=a["w"], reserved=sc, **dims)]
    else:
        a["dw"] = plan.alloc("dw", np.full(wl.size, POISON, np.uint32))
        descs = [Descriptor(opcode=opc, src0=a["x"], src1=a["dy"], dst=a["dw"], **dims),
                 Descriptor(opcode=Opcode.SGD, batch=0, m=wl.size & 0xFFFF, n=wl.size >> 16, h=0, w=0, k=0,
                            stride=0, src0=a["dw"], src1=a["v"], dst=a["w"], reserved=sc)]
    descs = [with_tiling(d, c) if d.opcode != Opcode.SGD else d for d in descs]
    prog = plan.alloc("program", encode_program(descs))
    gm = GoldenMachine(cfg, (plan.base, plan.limit))
    for r in plan.regions.values():
        gm.write(r.addr, r.data)
    assert gm.run(prog, len(descs)).ok
    res = runner.run_program(cfg, [(r.addr, r.data) for r in plan.regions.values()], prog, len(descs),
                             (plan.base, plan.limit), name=f"bench-fused-{cfg}-{opc.name}-{fused}")
    assert res.finished and res.status["ERROR"] == 0, (res.err_code, res.err_index)
    for name in ("w", "v"):
        r = plan.regions[name]
        assert np.array_equal(res.words(r.addr, r.data.size), gm.read(r.addr, r.data.size)), name
    return int(res.counters["CYCLES"]), sum(perf.descriptor_cycles(d, cfg) for d in descs)


@pytest.mark.parametrize("cfg", ["ci", "zcu102"])
def test_fused_sgd_against_wu_then_sgd(cfg: str) -> None:
    print(f"\n{cfg}: WU + the weights' SGD, measured CYCLES (model)")
    for label, (opc, dims) in LAYERS.items():
        fused, fused_model = _run(cfg, opc, dims, True)
        plain, plain_model = _run(cfg, opc, dims, False)
        print(f"  {label:30s} fused {fused:>8,} ({fused_model:,})   WU then SGD {plain:>8,} ({plain_model:,})"
              f"   {1 - fused / plain:+.1%} saved")
