"""Static checks of the engine RTL: Verilator -Wall lint and Yosys (0.23) parse / synthesis.

* ``verilator --lint-only -Wall`` on rtl/ files of the engine for every preset and for corner
  parameters (Tn = 1, odd L, 1 / 8 / 16 words per beat); the only waivers are the targeted
  ``lint_off`` comments in the RTL.
* Yosys: read + elaborate + ``proc`` at the ci parameters in the quick tier (catches SystemVerilog
  that Yosys cannot parse); the full ``synth_xilinx -family xcup`` is in the slow tier and prints
  the resource counts. Skipped when ``yosys`` is not installed (``apt-get install -y yosys``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from eftrain.config import preset
from tb.common import sim
from tb.engine import driver as drv

SOURCES = [str(p) for p in sim.rtl_sources(*drv.RTL_MODULES)]

CORNERS = {
    # one lane, one word per beat (the single-word port)
    "tn1": {"TM": 1, "TN": 1, "ACC_L": 2, "MUL_LAT": 3, "ADD_LAT": 1, "IN_DEPTH": 64,
            "OUT_DEPTH": 32, "W_DEPTH": 100, "WPB": 1},
    # odd L; 8 words per beat, more than either lane count
    "odd-l": {"TM": 2, "TN": 3, "ACC_L": 5, "MUL_LAT": 1, "ADD_LAT": 2, "IN_DEPTH": 100,
              "OUT_DEPTH": 50, "W_DEPTH": 600, "WPB": 8},
    # the widest beat the port takes (a 512-bit bus)
    "wpb16": {"TM": 3, "TN": 5, "ACC_L": 4, "MUL_LAT": 2, "ADD_LAT": 3, "IN_DEPTH": 100,
              "OUT_DEPTH": 50, "W_DEPTH": 200, "WPB": 16},
}


def _params(name: str) -> dict[str, int]:
    return CORNERS[name] if name in CORNERS else drv.engine_parameters(preset(name))


@pytest.mark.parametrize("name", ["ci", "odd", "zcu102", *CORNERS])
def test_verilator_lint_clean(name: str) -> None:
    root = sim.setup_verilator()
    params = [f"-G{k}={v}" for k, v in _params(name).items()]
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module",
           "eftrain_engine", *params, *SOURCES]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "%Warning" not in out.stderr, out.stderr[-4000:]


def _yosys_script(params: dict[str, int], synth: bool) -> str:
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    tail = ("synth_xilinx -family xcup -top eftrain_engine; stat" if synth
            else "hierarchy -check -top eftrain_engine; proc; check -assert")
    return f"read_verilog -sv {' '.join(SOURCES)}; chparam {chparam} eftrain_engine; {tail}"


def _yosys(script: str, log: Path) -> str:
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install -y yosys)")
    out = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return log.read_text()


def test_yosys_parses(tmp_path: Path) -> None:
    _yosys(_yosys_script(_params("ci"), synth=False), tmp_path / "yosys.log")


@pytest.mark.slow
def test_yosys_synth_xilinx_ci(tmp_path: Path) -> None:
    text = _yosys(_yosys_script(_params("ci"), synth=True), tmp_path / "yosys.log")
    hier = text.rsplit("=== design hierarchy ===", 1)[-1]
    print(hier)
    assert "RAMB" in hier, "the buffers were not mapped to block RAM"
    assert "DSP48E2" in hier
