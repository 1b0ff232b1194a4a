"""The accelerator's vector unit through the whole top level: programs of vector-op descriptors
(pooling, batch norm with ReLU, ReLU mask, bias gradient, SGD), mixed with convolutions, run from
DRAM on rtl/eftrain_top.sv (fast mode) and on the golden machine (eftrain.machine) from the same
DRAM image. Every word of the memory window must be equal afterwards (NaN == NaN): results,
padding lanes, the BN blocks' statistics, the parameters SGD updated in place, and every word no
descriptor should have touched (output regions start filled with a signalling NaN).
"""

from __future__ import annotations

import numpy as np
import pytest

from eftrain.config import preset
from eftrain.descriptors import Descriptor, ErrCode, Flag, Opcode, encode_program, scalar_words
from eftrain.golden.layout import fmap_layout, weight_layout
from eftrain.machine import GoldenMachine
from eftrain.program import POISON, MemoryPlan
from eftrain.program import _f32_words as _words
from tb.top import runner

F32 = np.float32




def _program(cfg: str, seed: int, b: int = 2, ch: int = 6, h: int = 8, w: int = 8):
    """conv(+bias, ReLU) -> BN(+ReLU) -> max pool -> avg pool -> global pool, then the backward
    ops and SGD on the conv weights, the BN parameters and the bias."""
    c = preset(cfg)
    rng = np.random.default_rng(seed)
    plan = MemoryPlan(runner.MEM_BASE, runner.MEM_BASE + (8 << 20))
    cp = -(-ch // c.tn) * c.tn
    x = rng.standard_normal((b, 3, h, w)).astype(F32)
    x[0, 0, 0, :3] = [np.nan, -0.0, 1e-40]                 # specials travel through everything
    wt = (rng.standard_normal((ch, 3, 3, 3)) * 0.3).astype(F32)
    bias = rng.standard_normal(ch).astype(F32)
    block = np.zeros(8 * cp, F32)
    block[:ch] = rng.standard_normal(ch)                    # gamma
    block[cp:cp + ch] = rng.standard_normal(ch)             # beta
    block[3 * cp:3 * cp + ch] = 1.0                         # running_var
    xs, ps, qs = (b, ch, h, w), (b, ch, h // 2, w // 2), (b, ch, h // 2 - 2, w // 2 - 2)
    fl = {s: fmap_layout(c, s) for s in (xs, ps, qs, (b, ch, 1, 1))}
    wl = weight_layout(c, wt.shape)
    xl = fmap_layout(c, x.shape)
    bv = np.zeros(cp, F32)
    bv[:ch] = bias
    a = {}

    def put(name: str, words: np.ndarray) -> int:
        a[name] = plan.alloc(name, words)
        return a[name]

    def poison(name: str, shape: tuple[int, ...]) -> int:
        return put(name, np.full(fl[shape].size, POISON, np.uint32))

    put("x", _words(xl.pack(x)))
    put("w", _words(wl.pack(wt)))
    put("bias", _words(bv))
    put("bn", _words(block))
    for name, shape in (("y", xs), ("z", xs), ("p", ps), ("i", ps), ("q", qs), ("g", (b, ch, 1, 1)),
                        ("dg", xs), ("dq", ps), ("dp", xs), ("dz", xs), ("dy", xs), ("dm", xs)):
        poison(name, shape)
    dgl = rng.standard_normal((b, ch, 1, 1)).astype(F32)
    put("dgl", _words(fmap_layout(c, (b, ch, 1, 1)).pack(dgl)))
    put("dw", np.full(wl.size, POISON, np.uint32))
    put("db", np.full(cp, POISON, np.uint32))
    for name, n in (("vw", wl.size), ("vb", cp), ("vbn", 2 * cp)):
        put(name, _words(rng.standard_normal(n).astype(F32) * F32(0.01)))
    fm = dict(batch=b, m=ch, n=ch, h=h, w=w, k=1, stride=1)
    bn_sc = (0, 0, *scalar_words(1e-5, 0.1))
    sgd_sc = (0, 0, *scalar_words(0.05, 0.9, 5e-4))
    from eftrain.descriptors import with_tiling

    conv = dict(batch=b, m=ch, n=3, h=h, w=w, k=3, stride=1, pad=1)
    pool2 = {**fm, "k": 2, "stride": 2}
    pool3 = {**fm, "h": h // 2, "w": w // 2, "k": 3, "stride": 1}
    glob = {**fm, "h": qs[2], "w": qs[3]}
    descs = [
        with_tiling(Descriptor(opcode=Opcode.CONV_FP, flags=int(Flag.BIAS | Flag.RELU), src0=a["x"],
                               src1=a["w"], src2=a["bias"], dst=a["y"], **conv), c),
        Descriptor(opcode=Opcode.BN_FP, flags=int(Flag.RELU), src0=a["y"], src1=a["bn"], dst=a["z"],
                   reserved=bn_sc, **fm),
        Descriptor(opcode=Opcode.MAXPOOL_FP, src0=a["z"], dst=a["p"], src2=a["i"], **pool2),
        Descriptor(opcode=Opcode.AVGPOOL_FP, src0=a["p"], dst=a["q"], **pool3),
        Descriptor(opcode=Opcode.AVGPOOL_FP, flags=int(Flag.GLOBAL), src0=a["q"], dst=a["g"], **glob),
        # backward
        Descriptor(opcode=Opcode.AVGPOOL_BP, flags=int(Flag.GLOBAL), src0=a["dgl"], dst=a["dg"], **glob),
        Descriptor(opcode=Opcode.AVGPOOL_BP, src0=a["dg"], dst=a["dq"], **pool3),
        Descriptor(opcode=Opcode.MAXPOOL_BP, src0=a["dq"], src1=a["i"], dst=a["dp"], **pool2),
        Descriptor(opcode=Opcode.BN_BP, flags=int(Flag.RELU), src0=a["dp"], src1=a["bn"], src2=a["y"],
                   dst=a["dz"], **fm),
        Descriptor(opcode=Opcode.RELU_BP, src0=a["dz"], src1=a["y"], dst=a["dm"], **fm),
        with_tiling(Descriptor(opcode=Opcode.CONV_WU, src0=a["x"], src1=a["dm"], dst=a["dw"], **conv), c),
        Descriptor(opcode=Opcode.BIAS_GRAD, src0=a["dm"], dst=a["db"], **fm),
        Descriptor(opcode=Opcode.SGD, batch=0, m=wl.size & 0xFFFF, n=wl.size >> 16, h=0, w=0, k=0, stride=0,
                   src0=a["dw"], src1=a["vw"], dst=a["w"], reserved=sgd_sc),
        Descriptor(opcode=Opcode.SGD, batch=0, m=cp, n=0, h=0, w=0, k=0, stride=0, src0=a["db"], src1=a["vb"],
                   dst=a["bias"], reserved=sgd_sc),
        Descriptor(opcode=Opcode.SGD, batch=0, m=2 * cp, n=0, h=0, w=0, k=0, stride=0,
                   src0=a["bn"] + 4 * 6 * cp, src1=a["vbn"], dst=a["bn"], reserved=sgd_sc),
    ]
    prog = plan.alloc("program", encode_program(descs))
    return plan, descs, prog


def _golden(cfg: str, plan: MemoryPlan, prog: int, count: int) -> np.ndarray:
    m = GoldenMachine(cfg, (plan.base, plan.limit))
    for r in plan.regions.values():
        m.write(r.addr, r.data)
    run = m.run(prog, count)
    assert run.ok, run
    return m.mem


def _compare(res: runner.TopResult, want: np.ndarray, plan: MemoryPlan) -> None:
    want = want[:(plan.top - plan.base) // 4]   # every region (the harness dumps this range)
    got = res.words(plan.base, want.size)
    gf, wf = got.view(F32), want.view(F32)
    same = (got == want) | (np.isnan(gf) & np.isnan(wf))
    if not same.all():
        bad = np.flatnonzero(~same)
        where = {r.name: int(((bad >= (r.addr - plan.base) // 4) & (bad < (r.end - plan.base) // 4)).sum())
                 for r in plan.regions.values()}
        regions = {k: v for k, v in where.items() if v}
        raise AssertionError(f"{bad.size} words differ, by region: {regions}; "
                             f"first {bad[:4]}: got {got[bad[:4]]} want {want[bad[:4]]}")


def _run_matches_golden(plan: MemoryPlan, descs: list[Descriptor], prog: int, knobs: runner.Knobs,
                        name: str) -> runner.TopResult:
    """Run the program on the top (ci) and on the golden machine: it completes without error and
    every word of the plan's range is equal."""
    want = _golden("ci", plan, prog, len(descs))
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    res = runner.run_program("ci", regions, prog, len(descs), (plan.base, plan.limit), knobs=knobs, name=name)
    assert res.finished and res.status["DONE"] == 1, (res.err_code, res.err_index)
    assert res.status["ERROR"] == 0, (res.err_code, res.err_index)
    _compare(res, want, plan)
    return res


@pytest.mark.parametrize("seed", [1, 2])
def test_vector_program_matches_the_golden_machine(seed: int) -> None:
    plan, descs, prog = _program("ci", seed)
    knobs = runner.Knobs(rd_lat=40) if seed == 1 else runner.Knobs(rd_lat=77, wr_lat=23, stall=30, seed=seed)
    _run_matches_golden(plan, descs, prog, knobs, f"vector-{seed}")


def test_illegal_vector_descriptor_stops_with_its_code_and_writes_nothing() -> None:
    plan, descs, prog = _program("ci", 3)
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    # descriptor 2 (max pool) with a window larger than the map: BAD_KERNEL at index 2
    bad = plan.regions["program"].data.copy()
    bad[2 * 16 + 1] = (int(bad[2 * 16 + 1]) & 0xFFF0FFFF) | (9 << 16)
    regions = [(a, d) if a != plan.regions["program"].addr else (a, bad) for a, d in regions]
    res = runner.run_program("ci", regions, prog, len(descs), (plan.base, plan.limit), name="vector-bad")
    assert res.status["ERROR"] == 1 and res.err_code == ErrCode.BAD_KERNEL and res.err_index == 2
    want = _golden("ci", plan, prog, 2)  # the first two descriptors ran, nothing after
    m = np.array(want)
    lo = (plan.regions["program"].addr - plan.base) // 4
    m[lo:lo + bad.size] = bad
    _compare(res, m, plan)


def test_dma_error_in_a_vector_op_aborts_cleanly() -> None:
    plan, descs, prog = _program("ci", 4)
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    z = plan.regions["z"]
    knobs = runner.Knobs(fault=(z.addr, z.addr + 64, 2))   # SLVERR inside BN_FP's output
    res = runner.run_program("ci", regions, prog, len(descs), (plan.base, plan.limit), knobs=knobs,
                             name="vector-fault")
    assert res.finished and res.status["ERROR"] == 1 and res.err_code == ErrCode.AXI_SLVERR
    assert res.err_index == 1


def _fused_program(cfg: str, seed: int, b: int = 2):
    """WU with Flag.SGD (SGD fused into the write-back): a 3x3 convolution and a fully connected
    layer, each with many dW tiles (several SGD ops while the loader keeps loading), then one
    unfused WU + SGD for contrast; weights, momentum buffers and everything else compared."""
    c = preset(cfg)
    rng = np.random.default_rng(seed)
    plan = MemoryPlan(runner.MEM_BASE, runner.MEM_BASE + (8 << 20))
    a = {}

    def put(name: str, words: np.ndarray) -> int:
        a[name] = plan.alloc(name, words)
        return a[name]

    sgd_sc = (0, 0, *scalar_words(0.05, 0.9, 5e-4))
    conv = dict(batch=b, m=6, n=5, h=6, w=6, k=3, stride=1, pad=1)
    fc = dict(batch=b, m=10, n=24, h=1, w=1, k=1, stride=1, pad=0)
    descs = []
    layers = (("c", conv, Opcode.CONV_WU), ("f", fc, Opcode.FC_WU), ("u", conv, Opcode.CONV_WU))
    for name, dims, opc in layers:
        xs = (b, dims["n"], dims["h"], dims["w"])
        ys = (b, dims["m"], dims["h"], dims["w"])
        wl = weight_layout(c, (dims["m"], dims["n"], dims["k"], dims["k"]))
        put(f"{name}.x", _words(fmap_layout(c, xs).pack(rng.standard_normal(xs).astype(F32))))
        put(f"{name}.dy", _words(fmap_layout(c, ys).pack(rng.standard_normal(ys).astype(F32))))
        w0 = rng.standard_normal((dims["m"], dims["n"], dims["k"], dims["k"])).astype(F32) * F32(0.3)
        put(f"{name}.w", _words(wl.pack(w0)))
        put(f"{name}.v", _words(rng.standard_normal(wl.size).astype(F32) * F32(0.01)))
        if name == "u":   # unfused: WU into dW, then the SGD descriptor
            put("u.dw", np.full(wl.size, POISON, np.uint32))
            descs.append(Descriptor(opcode=opc, src0=a["u.x"], src1=a["u.dy"], dst=a["u.dw"], **dims))
            descs.append(Descriptor(opcode=Opcode.SGD, batch=0, m=wl.size & 0xFFFF, n=wl.size >> 16, h=0,
                                    w=0, k=0, stride=0, src0=a["u.dw"], src1=a["u.v"], dst=a["u.w"],
                                    reserved=sgd_sc))
        else:
            descs.append(Descriptor(opcode=opc, flags=int(Flag.SGD), src0=a[f"{name}.x"],
                                    src1=a[f"{name}.dy"], src2=a[f"{name}.v"], dst=a[f"{name}.w"],
                                    reserved=sgd_sc, **dims))
    from eftrain.descriptors import default_tiling, with_tiling

    # the fused conv with the fewest weight chunks the model allows, the FC with one tile per chunk
    descs = [with_tiling(d, c) if d.opcode != Opcode.SGD else d for d in descs]
    descs[1] = with_tiling(descs[1], c, (default_tiling(descs[1], c)[0], 1))
    prog = plan.alloc("program", encode_program(descs))
    return plan, descs, prog


@pytest.mark.parametrize("seed", [5, 6])
def test_fused_sgd_in_wu_matches_the_golden_machine(seed: int) -> None:
    plan, descs, prog = _fused_program("ci", seed)
    knobs = runner.Knobs(rd_lat=40) if seed == 5 else runner.Knobs(rd_lat=61, wr_lat=37, stall=35, seed=seed)
    res = _run_matches_golden(plan, descs, prog, knobs, f"fused-{seed}")
    # the fused WUs read the weights and momentum buffers and wrote them back: they changed
    for name in ("c.w", "c.v", "f.w", "f.v"):
        r = plan.regions[name]
        assert not np.array_equal(res.words(r.addr, r.data.size), r.data), name


def test_dma_error_in_a_fused_sgd_aborts_cleanly() -> None:
    plan, descs, prog = _fused_program("ci", 7)
    regions = [(r.addr, r.data) for r in plan.regions.values()]
    v = plan.regions["f.v"]
    knobs = runner.Knobs(fault=(v.addr + 256, v.addr + 320, 3))   # DECERR inside the FC's momentum buffer
    res = runner.run_program("ci", regions, prog, len(descs), (plan.base, plan.limit), knobs=knobs,
                             name="fused-fault")
    assert res.finished and res.status["ERROR"] == 1 and res.err_code == ErrCode.AXI_DECERR
    assert res.err_index == 1
