#!/usr/bin/env python3
"""Step 1: is the accelerator there? ID, register-map version, hardware parameters.

Reads ID and VERSION (the register block answers at the address the overlay gives), every
hardware-parameter register against the preset (the bitstream is the build you think it is),
writes and reads back an RW register pair (the write path works, 40-bit addresses), and checks
that the core is idle with no interrupt pending.

    python board/bringup/01_id.py            # on the board (PYNQ, bitstream loaded by the script)
    python board/bringup/01_id.py --sim      # the same against the RTL simulation
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board.bringup._common import Outcome, main, next_step


def step(drv: Any, args: Any) -> Outcome:
    from eftrain import csr

    c = drv.csr
    lines: list[str] = []
    ok = True
    ident = c.read("ID")
    good = ident == csr.ID
    ok &= good
    lines.append(f"ID          {ident:#010x}  (expected {csr.ID:#010x})  {'ok' if good else 'WRONG'}")
    if not good:
        hint = ("reads 0: the PL is not configured or the base address is wrong" if ident == 0 else
                "reads all ones: the AXI access went nowhere (clock off, wrong address)"
                if ident == 0xFFFF_FFFF else "another IP answers at this address")
        return Outcome(False, f"no EF-Train register block ({hint})",
                       "check the overlay loaded (pynq.Overlay), the address of eftrain_0 in the .hwh "
                       "(Vivado address editor: 0xA000_0000), pl_clk0 running", lines)
    v = c.read_fields("VERSION")
    found = (v["MAJOR"], v["MINOR"], v["PATCH"])
    good = found[0] == csr.VERSION[0]
    ok &= good
    lines.append(f"VERSION     {'.'.join(map(str, found))}  (software {'.'.join(map(str, csr.VERSION))})  "
                 f"{'ok' if good else 'INCOMPATIBLE'}")
    hw = c.hw_params()
    bad = []
    for attr, value in hw.items():
        want = getattr(drv.config, attr)
        mark = "ok" if value == want else "DIFFERS"
        if value != want:
            bad.append(attr)
        lines.append(f"{attr:<15} {value:>6}  (preset {drv.config.name}: {want})  {mark}")
    ok &= not bad
    # write path: an RW pair, two patterns, restored afterwards
    rw_ok = True
    for pattern in (0xA5_5A5A_A5C0, 0x5A_A5A5_5A40):
        c.write64("WINDOW_BASE", pattern)
        back = c.read64("WINDOW_BASE")
        rw_ok &= back == pattern
        mark = "ok" if back == pattern else "WRONG"
        lines.append(f"WINDOW_BASE write {pattern:#012x} read {back:#012x}  {mark}")
    c.write64("WINDOW_BASE", 0)
    ok &= rw_ok
    st = c.status()
    pending = c.read("IRQ_STATUS") & c.read("IRQ_ENABLE")
    idle = st["BUSY"] == 0
    ok &= idle
    lines.append(f"STATUS      BUSY={st['BUSY']} DONE={st['DONE']} ERROR={st['ERROR']}  "
                 f"{'idle' if idle else 'BUSY (a program is running: soft reset or reload)'}")
    lines.append(f"interrupt   {'pending' if pending else 'not pending'}")
    if not ok:
        why = (f"parameters differ from preset {drv.config.name} ({', '.join(bad)})" if bad else
               "register write/read-back failed" if not rw_ok else
               "register map version is incompatible" if found[0] != csr.VERSION[0] else "core busy")
        return Outcome(False, why,
                       "load the bitstream built from this preset (make bitstream) or pass --preset; "
                       "a busy core: reload the overlay", lines)
    return Outcome(True, f"EF-Train register block, map v{'.'.join(map(str, found))}, parameters = "
                         f"preset {drv.config.name} ({drv.config.tm}x{drv.config.tn})",
                   next_step("01_id", bool(args.sim)), lines, {"id": ident, "params": hw})


if __name__ == "__main__":
    sys.exit(main(__file__, step, __doc__ or ""))
