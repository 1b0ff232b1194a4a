"""Known RTL bugs this environment found, and how the random tests step around them until fixed.

Each bug has a switch (``True``: waived, the random tests step around it) and a reproduction in
``tb/top_uvm/test_top_uvm.py``. Both are fixed (switches ``False``; the reproductions are
regression tests): the reload now also waits for the store of its own partial tile
(``st_mark1`` when a chunk pass has one output tile), and the top instantiates the storer with
``DROP_LATE_RSP = 0`` because its abort pulse resets the engine too.

``WAIVE_RELOAD_HAZARD`` (reproduction: ``test_reload_hazard``)
    ``rtl/eftrain_layer_seq.sv``: with more than one weight chunk (``chunk < ceil(red / Tn)``), an
    FP/BP layer stores the partial output tile of chunk c to ``dst`` and reloads it for chunk
    c + 1. The reload (``S_E_RELOAD``) waits only for ``st_mark2`` (the store of output tile o - 2,
    the bank it reuses). When a chunk pass has a single output tile (one image or a folded layer,
    and one row tile: ``tr >= rows``) the partial tile's own store is tile o - 1, so the reload
    reads ``dst`` before the partial sums are written (the result is the POISON pattern turned
    into NaN, or stale data, depending on timing). :func:`tb.top_uvm.items.reload_hazard` says
    which tilings hit it; the random layer generator rejects them.

``WAIVE_STORER_ABORT_HANG`` (reproduction: ``test_abort_hang``)
    ``rtl/eftrain_storer.sv`` counts unload requests the engine has accepted but not answered
    (``rs_out``) and, on ``abort``, expects their responses to arrive later and drops them
    (``rs_junk``). But ``rtl/eftrain_top.sv`` resets the engine with the same pulse
    (``engine_rst_n = rst_n && !abort_pulse``), so those responses never come: ``rs_junk`` stays
    non-zero, the first unload responses of the *next* program are dropped, its write stream
    is short and the DMA's write side waits forever (no DONE, no error: a hang). It happens when
    a soft reset or an AXI error stops a program while a store is streaming. Waived by a full
    reset (``rst_n``) after an aborted program that left ``u_storer.rs_junk != 0`` (logged and
    counted as ``waived_storer_hang`` in the coverage report).
"""

from __future__ import annotations

__all__ = ["WAIVE_RELOAD_HAZARD", "WAIVE_STORER_ABORT_HANG"]

WAIVE_RELOAD_HAZARD = False
WAIVE_STORER_ABORT_HANG = False
