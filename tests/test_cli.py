"""The command line: ``eftrain sim`` (the main job) and ``eftrain model``."""

from __future__ import annotations

import json
import subprocess
import sys

from eftrain.cli import main


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.split(" ")[0] in ("FP", "BP", "WU")]


def test_sim_golden_backend_prints_the_table(capsys):
    args = ["sim", "--backend", "golden", "--preset", "ci", "--layer", "6,5,9,7,3,2,1", "--batch", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "golden model" in out
    rows = _rows(out)
    assert [r.split()[0] for r in rows] == ["FP", "BP", "WU"]
    assert all("OK (max err" in r for r in rows)


def test_sim_rtl_all_modes_match(capsys):
    """The main job on the RTL: a layer with odd sizes, stride 2 and channels not multiples of 4."""
    assert main(["sim", "--preset", "ci", "--layer", "6,5,9,7,3,2,1", "--batch", "2", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "backend : rtl" in out
    rows = _rows(out)
    assert [r.split()[0] for r in rows] == ["FP", "BP", "WU"]
    assert all(r.rstrip().endswith("MATCH") and "MISMATCH" not in r for r in rows), out


def test_sim_rejects_a_bad_layer(capsys):
    assert main(["sim", "--layer", "6,5,9,7,3"]) == 2
    assert "M,N,H,W,K,S,P" in capsys.readouterr().err
    assert main(["sim", "--layer", "6,5,9,7,3,1,5"]) == 2  # padding beyond K-1
    assert "padding" in capsys.readouterr().err


def test_model_vgg16_json_has_13_layers_by_3_phases():
    proc = subprocess.run(
        [sys.executable, "-m", "eftrain", "model", "--net", "vgg16", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    rep = json.loads(proc.stdout)
    assert len(rep["layers"]) == 13
    for layer in rep["layers"]:
        for phase in ("fp", "bp", "wu"):
            p = layer[phase]
            assert p["cycles"] > 0 and 0 < p["utilization"] <= 1 and p["gflops"] > 0
            assert p["macs"] == layer["m"] * layer["n"] * 9 * layer["oh"] * layer["ow"] * rep["batch"]


def test_model_table(capsys):
    assert main(["model", "--net", "lenet", "--preset", "ci", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "total" in out
