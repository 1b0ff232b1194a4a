"""The whole accelerator (rtl/eftrain_top.sv) running descriptor programs from DRAM, fast mode.

Every layer result is compared bit for bit with the golden model (eftrain.golden.engine), and the
whole output region word for word with the packed golden result (padding lanes must be +0.0; the
region starts filled with a signalling NaN, so an unwritten word fails). Programs of several
layers run in one simulation (the program is also the test of descriptor sequencing).
"""

from __future__ import annotations

import numpy as np
import pytest

from tb.top import runner

F32 = np.float32


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(F32)


# (phase, batch, M, N, H, W, K, S, P, tiling)  tiling None: the analytical model's choice
LAYERS = {
    "fp_pad": ("fp", 2, 8, 6, 9, 7, 3, 1, 1, None),
    "fp_tiles": ("fp", 2, 5, 7, 8, 8, 3, 2, 1, (2, 1)),      # row tiles and two chunks
    "fp_k1": ("fp", 1, 4, 4, 6, 5, 1, 1, 0, None),
    "fp_fc": ("fp", 5, 10, 9, 1, 1, 1, 1, 0, None),          # folded: FC
    "fp_1tile": ("fp", 1, 4, 8, 1, 6, 1, 1, 0, (1, 1)),      # two chunks, one output tile per pass
    "fp_fc_chunks": ("fp", 5, 4, 8, 1, 1, 1, 1, 0, (1, 1)),  # folded, two chunks
    "bp_pad": ("bp", 2, 8, 6, 9, 7, 3, 1, 1, None),
    "bp_s2": ("bp", 2, 5, 7, 9, 8, 3, 2, 1, (3, 1)),
    "bp_fc": ("bp", 5, 10, 9, 1, 1, 1, 1, 0, None),
    "bp_1tile": ("bp", 1, 8, 4, 3, 5, 3, 1, 1, (3, 1)),
    "wu_pad": ("wu", 2, 8, 6, 9, 7, 3, 1, 1, None),
    "wu_tiles": ("wu", 3, 5, 7, 8, 8, 3, 2, 1, (2, 1)),
    "wu_fc": ("wu", 5, 10, 9, 1, 1, 1, 1, 0, None),
}
# FP layers with ReLU fused into the final store (Flag.RELU): <name>_relu
RELU = ("fp_tiles", "fp_1tile", "fp_fc_chunks", "fp_pad")


def _build(cfg: str, names: list[str], seed: int, bias: bool = True):
    from eftrain import program
    from eftrain.golden import engine, vector

    rng = np.random.default_rng(seed)
    plan = program.MemoryPlan(runner.MEM_BASE, runner.MEM_BASE + (8 << 20))
    layers, expect = [], []
    for i, name in enumerate(names):
        relu = name.endswith("_relu")
        phase, b, m, n, h, w, k, s, p, tiling = LAYERS[name.removesuffix("_relu")]
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        pre = f"l{i}_"
        if phase == "fp":
            x, wt = _rand(rng, b, n, h, w), _rand(rng, m, n, k, k)
            bv = _rand(rng, m) if bias else None
            lp = program.layer_program(cfg, "fp", x=x, w=wt, bias=bv, stride=s, padding=p,
                                       tiling=tiling, plan=plan, prefix=pre, program=False, relu=relu)
            want = engine.conv_fp(x, wt, bv, s, p, cfg)
            if relu:
                want = vector.relu(want)
        elif phase == "bp":
            dy, wt = _rand(rng, b, m, oh, ow), _rand(rng, m, n, k, k)
            lp = program.layer_program(cfg, "bp", dy=dy, w=wt, x_shape=(b, n, h, w), stride=s,
                                       padding=p, tiling=tiling, plan=plan, prefix=pre, program=False)
            want = engine.conv_bp(dy, wt, (b, n, h, w), s, p, cfg)
        else:
            x, dy = _rand(rng, b, n, h, w), _rand(rng, b, m, oh, ow)
            lp = program.layer_program(cfg, "wu", x=x, dy=dy, w_shape=(m, n, k, k), stride=s,
                                       padding=p, tiling=tiling, plan=plan, prefix=pre, program=False)
            want = engine.conv_wu(x, dy, (m, n, k, k), s, p, cfg)
        layers.append(lp)
        expect.append(want)
    prog = program.program_of(plan, layers)
    return plan, layers, expect, prog


def _check(cfg: str, plan, layers, expect, res: runner.TopResult) -> None:
    from eftrain.golden.layout import fmap_layout, weight_layout

    assert res.finished, "the program did not finish (timeout)"
    assert res.status["DONE"] == 1 and res.status["ERROR"] == 0, (res.status, res.err_code, res.err_index)
    for lp, want in zip(layers, expect, strict=True):
        region = plan.regions[lp.output]
        words = res.words(region.addr, region.data.size)
        got = lp.decode(words)
        bad = np.flatnonzero(got.view(np.uint32).ravel() != np.asarray(want, F32).view(np.uint32).ravel())
        assert bad.size == 0, f"{lp.output}: {bad.size} of {got.size} words differ (first at {bad[:5]})"
        d = lp.descriptors[0]
        if d.phase == "wu":
            lay = weight_layout(cfg, want.shape)
        else:
            lay = fmap_layout(cfg, want.shape)
        full = np.asarray(lay.pack(want)).view(np.uint32)
        assert np.array_equal(words, full), f"{lp.output}: padding lanes of the DRAM image are not +0.0"


@pytest.mark.parametrize("phase", ["fp", "bp", "wu"])
def test_layers_bit_exact(phase: str) -> None:
    names = [n for n in LAYERS if n.startswith(phase)]
    plan, layers, expect, prog = _build("ci", names, seed=len(phase))
    res = runner.run_program("ci", [(r.addr, r.data) for r in plan.regions.values()], prog,
                             len(layers), (plan.base, plan.limit))
    _check("ci", plan, layers, expect, res)
    assert res.counters["MAC_CYCLES"] > 0
    assert res.counters["AXI_WR_BEATS"] > 0 and res.counters["AXI_RD_BEATS"] > 0


def test_relu_fused_into_final_stores_only() -> None:
    """Flag.RELU: the final output is relu(conv) bit for bit (+0.0 for negatives and -0.0), while
    the partial sums of multi-chunk layers (stored and reloaded between chunks) stay unclipped."""
    names = [f"{n}_relu" for n in RELU]
    plan, layers, expect, prog = _build("ci", names, seed=21)
    assert all(lp.descriptors[0].flags & 2 for lp in layers)
    assert any(lp.descriptors[0].chunk < -(-lp.descriptors[0].n // 4) for lp in layers)  # multi-chunk
    res = runner.run_program("ci", [(r.addr, r.data) for r in plan.regions.values()], prog,
                             len(layers), (plan.base, plan.limit))
    _check("ci", plan, layers, expect, res)
    assert all((w >= 0).all() for w in expect) and any((w == 0).mean() > 0.3 for w in expect)


@pytest.mark.parametrize("seed", [11, 12])
def test_random_latency_and_backpressure_change_nothing(seed: int) -> None:
    """Random DRAM latency and pauses on every AXI channel: the same bits, the same DRAM image."""
    rng = np.random.default_rng(seed)
    names = ["fp_tiles", "bp_s2", "wu_tiles", "fp_fc", "wu_fc"]
    plan, layers, expect, prog = _build("ci", names, seed=seed)
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    quiet = runner.run_program("ci", regions, prog, len(layers), (plan.base, plan.limit),
                               name=f"quiet-{seed}")
    knobs = runner.Knobs(rd_lat=int(rng.integers(1, 120)), wr_lat=int(rng.integers(0, 60)),
                         stall=int(rng.integers(20, 60)), seed=seed)
    noisy = runner.run_program("ci", regions, prog, len(layers), (plan.base, plan.limit), knobs=knobs,
                               name=f"noisy-{seed}")
    _check("ci", plan, layers, expect, noisy)
    assert np.array_equal(noisy.mem, quiet.mem), f"DRAM differs under {knobs}"
    assert noisy.counters["CYCLES"] > quiet.counters["CYCLES"], "the pauses did not slow anything down"
