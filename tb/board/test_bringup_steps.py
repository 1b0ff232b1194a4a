"""The bring-up steps (board/bringup/) run against the RTL simulation with ``--sim``.

Each step is started as the command a user types on the board, plus ``--sim``: the very step code
runs through the PYNQ driver on :class:`tb.board.sim_io.SimIO`. The quick tier runs 01 (ID,
version, parameters), 03 (one small layer per mode) and 05 (the error path); 02 (DMA loopback)
and 04 (a LeNet training iteration) are in the slow tier. Also here: the INA226 power reader on
a fake hwmon tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "board" / "bringup"


def _step(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(STEPS / f"{name}.py"), "--sim", *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, (f"{name} --sim failed (status {proc.returncode}):\n{out}\n"
                                  f"{proc.stderr[-3000:]}")
    lines = out.strip().splitlines()
    assert lines[-2].startswith(f"PASS {name}:"), out
    assert lines[-1].startswith("next: "), out
    return out


def test_01_id() -> None:
    out = _step("01_id")
    assert "ID          0xef7a0001" in out and "DIFFERS" not in out
    assert "next: python board/bringup/02_dma_loopback.py --sim" in out


def test_03_layers_small() -> None:
    out = _step("03_layers", "--small")
    for phase in ("FP", "BP", "WU"):
        assert any(line.strip().startswith(phase) and line.rstrip().endswith("MATCH")
                   for line in out.splitlines()), out


def test_05_error_path() -> None:
    out = _step("05_error_path")
    assert out.count("  ok") == 4 and "legal layer after   -> bit-exact" in out


@pytest.mark.slow
def test_02_dma_loopback() -> None:
    out = _step("02_dma_loopback")
    assert "bit-exact" in out and "OVERWRITTEN" not in out


@pytest.mark.slow
def test_04_train_iteration_lenet() -> None:
    out = _step("04_train_iteration", "--net", "lenet", "--batch", "1")
    assert "every output bit-exact" in out and "GFLOPS" in out and "power         skipped" in out


def test_a_failing_step_prints_fail_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """01 against a bus where nothing answers (ID reads 0): FAIL, the reason, what to check, status 1."""
    import importlib.util
    import types

    sys.path.insert(0, str(REPO))
    from board.bringup._common import _print
    from eftrain import csr
    from eftrain.config import preset

    spec = importlib.util.spec_from_file_location("step01", STEPS / "01_id.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    drv = types.SimpleNamespace(csr=csr.Csr(lambda off: 0, lambda off, v: None), config=preset("ci"))
    out = mod.step(drv, types.SimpleNamespace(sim=True)).to_dict()
    assert _print("01_id", "test", out) == 1
    text = capsys.readouterr().out
    assert "FAIL 01_id: no EF-Train register block (reads 0" in text and "next: check the overlay" in text


def test_power_from_a_fake_hwmon_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO))
    from board.pynq import power

    for i, (name, uw, label) in enumerate([("ina226", 1_500_000, "vccint"), ("ina226", 500_000, None),
                                           ("coretemp", 0, None)]):
        d = tmp_path / f"hwmon{i}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "power1_input").write_text(f"{uw}\n")
        if label:
            (d / "label").write_text(label + "\n")
    monkeypatch.setenv("EFTRAIN_HWMON", str(tmp_path))
    rails = power.find_rails()
    assert [r.label for r in rails] == ["vccint", "hwmon1"]
    assert power.read_watts(rails) == {"vccint": 1.5, "hwmon1": 0.5}
    with power.PowerSampler(rails, interval=0.001) as ps:
        pass
    assert ps.mean_watts == pytest.approx(2.0) and ps.samples
    monkeypatch.setenv("EFTRAIN_HWMON", str(tmp_path / "none"))
    assert power.find_rails() == []
    with power.PowerSampler([]) as ps:
        pass
    assert ps.mean_watts is None


@pytest.mark.board
@pytest.mark.parametrize("name", ["01_id", "02_dma_loopback", "03_layers", "04_train_iteration",
                                  "05_error_path"])
def test_step_on_the_board(name: str) -> None:
    """On a ZCU102 with PYNQ (``pytest -m board tb/board``): every step, in order, on the hardware."""
    import importlib.util

    if importlib.util.find_spec("pynq") is None:
        pytest.skip("pynq is not installed (not a PYNQ board)")
    proc = subprocess.run([sys.executable, str(STEPS / f"{name}.py")], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=1800)
    assert proc.returncode == 0, f"{name} failed on the board:\n{proc.stdout}\n{proc.stderr[-3000:]}"
