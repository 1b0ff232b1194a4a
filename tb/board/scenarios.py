"""Driver code the tests run inside the simulation (``run_session("tb.board.scenarios:NAME")``).

Each function takes the board interface first (a :class:`tb.board.sim_io.SimIO` here, a
``PynqIO`` on the board: nothing in them is simulation-specific) and returns JSON-able data that
the pytest side checks. Bits are compared inside (arrays stay in the simulator process).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

F32 = np.float32

# A small layer per mode at the ci preset: (batch, M, N, H, W, K, S, P)
SMALL = (2, 6, 5, 7, 6, 3, 1, 1)


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(F32)


def _diff(got: np.ndarray, want: np.ndarray) -> int:
    """Number of elements whose bits differ (NaN equals NaN)."""
    g = np.asarray(got, F32).ravel()
    w = np.asarray(want, F32).ravel()
    same = (g.view(np.uint32) == w.view(np.uint32)) | (np.isnan(g) & np.isnan(w))
    return int(g.size - np.count_nonzero(same)) if g.shape == w.shape else max(g.size, w.size)


def identify(io: Any, preset: str = "ci") -> dict[str, Any]:
    """ID, version and parameters through the driver, plus a write/read-back of RW registers."""
    from board.pynq.driver import EftrainDriver

    drv = EftrainDriver(io, preset)
    info = drv.identify()
    drv.csr.write64("WINDOW_BASE", 0x12_3456_7840)
    back = drv.csr.read64("WINDOW_BASE")
    return {"id": info["id"], "version": list(info["version"]), "params": info["params"],
            "window_readback": back}


def mismatch(io: Any, preset: str = "ci", wrong: str = "zcu102") -> dict[str, Any]:
    """The driver made for another preset refuses the device."""
    from board.pynq.driver import DeviceMismatch, EftrainDriver

    try:
        EftrainDriver(io, wrong)
    except DeviceMismatch as exc:
        return {"raised": True, "message": str(exc)}
    return {"raised": False, "message": ""}


def layers(io: Any, preset: str = "ci", seed: int = 1, layer: tuple[int, ...] = SMALL) -> dict[str, Any]:
    """FP, BP and WU of one layer through the driver (one program each) and through
    ``eftrain.Device("board", interface=io)``; every result against the golden model."""
    import eftrain
    from board.pynq.driver import EftrainDriver
    from eftrain.golden import engine

    b, m, n, h, w, k, s, p = layer
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    rng = np.random.default_rng(seed)
    x, wt, bias = _rand(rng, b, n, h, w), _rand(rng, m, n, k, k), _rand(rng, m)
    dy = _rand(rng, b, m, oh, ow)
    drv = EftrainDriver(io, preset)
    out: dict[str, Any] = {}
    want = {
        "fp": engine.conv_fp(x, wt, bias, s, p, preset),
        "bp": engine.conv_bp(dy, wt, x.shape, s, p, preset),
        "wu": engine.conv_wu(x, dy, wt.shape, s, p, preset),
    }
    args = {
        "fp": {"x": x, "w": wt, "bias": bias},
        "bp": {"dy": dy, "w": wt, "x_shape": x.shape},
        "wu": {"x": x, "dy": dy, "w_shape": wt.shape},
    }
    for phase in ("fp", "bp", "wu"):
        run = drv.run_layer(phase, stride=s, padding=p, **args[phase])
        out[phase] = {"diff": _diff(run.result, want[phase]), "size": int(want[phase].size),
                      "cycles": run.cycles, "macs": run.macs, "counters": run.counters,
                      "tiling": list(run.tiling)}
    dev = eftrain.Device("board", preset, interface=io)
    got = {
        "fp": dev.conv2d(x, wt, bias, stride=s, padding=p),
        "bp": dev.conv2d_backward_input(dy, wt, x.shape, stride=s, padding=p),
        "wu": dev.conv2d_backward_weight(x, dy, wt.shape, stride=s, padding=p),
    }
    out["device"] = {ph: _diff(got[ph], want[ph]) for ph in got}
    out["device_stats"] = {k: v for k, v in dev.stats.items() if k in ("backend", "cycles", "macs",
                                                                        "cycles_source", "op")}
    return out


def illegal(io: Any, preset: str = "ci", seed: int = 3) -> dict[str, Any]:
    """Illegal descriptors: each stops with the code ``eftrain.descriptors.validate`` predicts,
    at the right index, writes nothing; the accelerator runs a legal layer afterwards."""
    from board.pynq.driver import AcceleratorError, EftrainDriver
    from eftrain import program
    from eftrain.descriptors import RTL_IMPLEMENTED, validate
    from eftrain.golden import engine

    rng = np.random.default_rng(seed)
    drv = EftrainDriver(io, preset)
    b, m, n, h, w, k, s, p = SMALL
    x, wt = _rand(rng, b, n, h, w), _rand(rng, m, n, k, k)
    cases = {
        "kernel_9": {"k": 9},
        "zero_m": {"m": 0},
        "stride_5": {"stride": 5},
        "dst_outside": {"dst": None},     # filled below: past the window
    }
    results: dict[str, Any] = {}
    for name, change in cases.items():
        plan, (lp,) = drv.prepare([("fp", {"x": x, "w": wt, "stride": s, "padding": p})])
        if change.get("dst", 0) is None:
            change = {"dst": plan.limit}
        legal = lp.descriptors[0]
        bad = dataclasses.replace(legal, **change)
        predicted = validate(bad, preset, (plan.base, plan.limit), RTL_IMPLEMENTED)
        # a two-descriptor program: the legal layer, then the illegal one (index 1)
        descs = [legal, bad]
        region = plan.regions[lp.output]
        try:
            drv.execute(plan, descs)
            results[name] = {"raised": False, "predicted": predicted.name}
            continue
        except AcceleratorError as exc:
            err = exc
        y = lp.decode(drv.words(region.addr, region.data.size))
        results[name] = {"raised": True, "code": err.code.name, "index": err.index,
                         "predicted": predicted.name, "message": str(err),
                         "first_layer_diff": _diff(y, engine.conv_fp(x, wt, None, s, p, preset))}
        # an illegal descriptor alone: nothing written
        plan2, (lp2,) = drv.prepare([("fp", {"x": x, "w": wt, "stride": s, "padding": p})])
        bad2 = dataclasses.replace(lp2.descriptors[0], **change) if "dst" not in change else \
            dataclasses.replace(lp2.descriptors[0], dst=plan2.limit)
        try:
            drv.execute(plan2, [bad2])
            results[name]["alone_raised"] = False
        except AcceleratorError as exc:
            r2 = plan2.regions[lp2.output]
            words = drv.words(r2.addr, r2.data.size)
            results[name].update(alone_raised=True, alone_code=exc.code.name, alone_index=exc.index,
                                 untouched=bool(np.all(words == program.POISON)))
    run = drv.run_layer("fp", x=x, w=wt, stride=s, padding=p)
    results["after"] = {"diff": _diff(run.result, engine.conv_fp(x, wt, None, s, p, preset))}
    return results


def registers(io: Any, preset: str = "ci") -> dict[str, Any]:
    """:func:`identify` and :func:`mismatch` in one simulation."""
    return {"identify": identify(io, preset), "mismatch": mismatch(io, preset)}
