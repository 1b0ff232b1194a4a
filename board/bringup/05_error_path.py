#!/usr/bin/env python3
"""Step 5: the error path. Illegal descriptors stop the program with the right error code.

For each case a legal layer's descriptor is made illegal (kernel 9, a zero dimension, stride 5,
an output address past the window); the hardware validates every descriptor before it runs it, so
the program must stop with the code :func:`eftrain.descriptors.validate` predicts, at that
descriptor's index, having written nothing, and the driver must raise ``AcceleratorError`` with
it. Afterwards a legal layer must run correctly (the accelerator recovered, nothing hangs).

    python board/bringup/05_error_path.py [--sim]
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board.bringup._common import Outcome, bits_differ, main, next_step

LAYER = (2, 6, 5, 7, 6, 3, 1, 1)   # B, M, N, H, W, K, S, P
CASES = {
    "kernel 9": {"k": 9},
    "zero M": {"m": 0},
    "stride 5": {"stride": 5},
    "dst past the window": {"dst": "limit"},
}


def step(drv: Any, args: Any) -> Outcome:
    import numpy as np

    from board.pynq.driver import AcceleratorError
    from eftrain import program
    from eftrain.descriptors import validate
    from eftrain.golden import engine

    cfg = drv.config
    b, m, n, h, w, k, s, p = LAYER
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((b, n, h, w)).astype(np.float32)
    wt = rng.standard_normal((m, n, k, k)).astype(np.float32)
    lines: list[str] = []
    ok = True
    for name, change in CASES.items():
        plan, (lp,) = drv.prepare([("fp", {"x": x, "w": wt, "stride": s, "padding": p})])
        ch = {key: (plan.limit if v == "limit" else v) for key, v in change.items()}
        bad = dataclasses.replace(lp.descriptors[0], **ch)
        want = validate(bad, cfg, (plan.base, plan.limit))
        r = plan.regions[lp.output]
        try:
            drv.execute(plan, [bad])
        except AcceleratorError as exc:
            untouched = bool(np.all(drv.words(r.addr, r.data.size) == program.POISON))
            good = exc.code == want and exc.index == 0 and untouched
            ok &= good
            lines.append(f"{name:<20} -> {exc.code.name} at descriptor {exc.index} (expected {want.name}), "
                         f"output {'untouched' if untouched else 'WRITTEN'}  {'ok' if good else 'WRONG'}")
            continue
        ok = False
        lines.append(f"{name:<20} -> no error (expected {want.name})  WRONG")
    run = drv.run_layer("fp", x=x, w=wt, stride=s, padding=p)
    diff = bits_differ(run.result, engine.conv_fp(x, wt, None, s, p, cfg))
    ok &= diff == 0
    lines.append(f"legal layer after   -> {'bit-exact' if diff == 0 else f'{diff} DIFFER'}")
    if not ok:
        return Outcome(False, "an illegal descriptor was not reported as specified",
                       "compare with the simulation (--sim): a different code means a different validator "
                       "order in the bitstream; a hang or a written output is a bug to report", lines)
    return Outcome(True, f"{len(CASES)} illegal descriptors stopped with their error codes, nothing written, "
                         "the accelerator recovered",
                   next_step("05_error_path", bool(args.sim)), lines)


if __name__ == "__main__":
    sys.exit(main(__file__, step, __doc__ or ""))
