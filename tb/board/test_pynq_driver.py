"""The PYNQ driver (board/pynq/driver.py) against the RTL simulation of rtl/eftrain_top.sv.

The very code that runs on the ZCU102 runs here: ``EftrainDriver`` and ``eftrain.Device("board")``
over :class:`tb.board.sim_io.SimIO` (AXI4-Lite transactions on ``s_axil_*``, the DRAM model on
``m_axi_*``, the ``irq`` port), in a cocotb bridge thread. The scenarios live in
``tb/board/scenarios.py`` (each one simulation of ``eftrain_top`` at the ci preset).
"""

from __future__ import annotations

from tb.board.sim_io import run_session

PRESET = "ci"


def test_id_version_and_parameters_read_back_as_the_preset() -> None:
    from eftrain import csr
    from eftrain.config import preset

    r = run_session("tb.board.scenarios:registers", {"preset": PRESET})
    ident = r["identify"]
    assert ident["id"] == csr.ID
    assert tuple(ident["version"]) == tuple(csr.VERSION)
    cfg = preset(PRESET)
    assert ident["params"] == {attr: getattr(cfg, attr) for attr in csr.HW_PARAMS.values()}
    assert ident["window_readback"] == 0x12_3456_7840          # a 40-bit RW pair, written and read back
    mm = r["mismatch"]
    assert mm["raised"] and "disagree with preset 'zcu102'" in mm["message"]


def test_one_layer_per_mode_bit_exact_with_golden() -> None:
    r = run_session("tb.board.scenarios:layers", {"preset": PRESET})
    for phase in ("fp", "bp", "wu"):
        got = r[phase]
        assert got["diff"] == 0, f"{phase}: {got['diff']} of {got['size']} elements differ from golden"
        c = got["counters"]
        assert got["cycles"] == c["CYCLES"] > 0 and c["MAC_CYCLES"] > 0
        assert c["AXI_RD_BEATS"] > 0 and c["AXI_WR_BEATS"] > 0
    assert r["device"] == {"fp": 0, "bp": 0, "wu": 0}, "eftrain.Device('board') differs from golden"
    st = r["device_stats"]
    assert st["backend"] == "board" and st["cycles"] == r["wu"]["cycles"]
    assert "CYCLES counter" in st["cycles_source"]


def test_illegal_descriptor_raises_the_error_code() -> None:
    r = run_session("tb.board.scenarios:illegal", {"preset": PRESET})
    after = r.pop("after")
    assert after["diff"] == 0, "the accelerator did not run a legal layer after the errors"
    for name, case in r.items():
        assert case["raised"], f"{name}: no AcceleratorError"
        assert case["code"] == case["predicted"], f"{name}: {case['code']} != {case['predicted']}"
        assert case["index"] == 1, f"{name}: error at descriptor {case['index']}, expected 1"
        assert case["first_layer_diff"] == 0, f"{name}: the legal descriptor 0 before it is wrong"
        assert case["alone_raised"] and case["alone_code"] == case["predicted"] and case["alone_index"] == 0
        assert case["untouched"], f"{name}: the illegal descriptor wrote its output"
        assert case["code"] in case["message"]
