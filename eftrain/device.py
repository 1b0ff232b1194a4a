"""``eftrain.Device``: one interface to the accelerator, whatever runs it (SPEC section 6).

Backends:

* ``"golden"``: the bit-exact functional model (:mod:`eftrain.golden.engine`); ``stats``
  come from the analytical model (:mod:`eftrain.perf`) at the device's hardware preset.
* ``"rtl"``: the Verilated RTL engine (``rtl/eftrain_engine.sv``), cycle-accurate; the same
  bits as ``"golden"``; ``stats`` hold the measured cycles. Until the DMA lands, a layer must
  fit in the on-chip buffers (``ValueError`` otherwise). Needs the source tree.
* ``"board"``: the accelerator on a ZCU102 through the PYNQ driver
  (``board/pynq/driver.py``, :class:`EftrainDriver`); the same bits as ``"golden"``; ``stats``
  hold the measured cycles (the CYCLES counter). Give the hardware interface as
  ``interface=`` (any object with read32/write32/alloc/sync_to_device/sync_from_device/
  wait_irq: ``board.pynq.pynq_io.PynqIO`` on the board, ``tb.board.sim_io.SimIO`` against the
  RTL simulation); without one, the board is used when the ``pynq`` package is installed
  (bitstream ``$EFTRAIN_BITSTREAM`` or ``build/zcu102/bitstream/eftrain.bit``), otherwise
  ``ValueError``. Needs the source tree (``board/`` beside the package).

All arrays are NCHW / OIHW float32 numpy arrays; results are new float32 arrays.
Bad arguments raise ``ValueError`` naming the argument; nothing is cast or truncated.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.golden import engine

__all__ = ["BACKENDS", "Device"]

BACKENDS = ("golden", "rtl", "board")
_REPO_ROOT = Path(__file__).resolve().parents[1]


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def _shape_arg(name: str, value: Any) -> tuple[int, ...]:
    try:
        shape = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of 4 ints, got {value!r}") from None
    if len(shape) != 4 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in shape):
        raise ValueError(f"{name} must be a sequence of 4 ints, got {value!r}")
    return tuple(int(v) for v in shape)


class Device:
    """The accelerator behind the SPEC section 6 interface.

    Args:
        backend: ``"golden"`` (bit-exact model), ``"rtl"`` or ``"board"``.
        config: hardware preset name or :class:`HwConfig` (default ``"zcu102"``, the
            paper's 16 x 16 array). The bits depend on it (adder-tree width Tn and the
            WU interleave L), so compare backends at the same configuration.
        interface: ``"board"`` only: the hardware interface the PYNQ driver uses (see the
            module documentation); ``None`` finds the board through ``pynq``.
    """

    def __init__(self, backend: str = "golden", config: str | HwConfig = "zcu102", *,
                 interface: Any = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if interface is not None and backend != "board":
            raise ValueError(f"interface is only for the 'board' backend, not {backend!r}")
        self.backend = backend
        self.config = preset(config)
        self._stats: dict[str, Any] = {}
        self._driver: Any = None
        if backend == "board":
            self._driver = _board_driver(interface, self.config)

    def __repr__(self) -> str:
        return f"Device({self.backend!r}, config={self.config.name!r})"

    @property
    def stats(self) -> dict[str, Any]:
        """Figures of the last call: op, shapes, MACs, cycles, utilization, DRAM bytes, source."""
        return dict(self._stats)

    # -- the three convolution phases -------------------------------------------------
    def conv2d(
        self,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int = 1,
        padding: int = 0,
    ) -> np.ndarray:
        """Forward convolution (FP): x [B,N,H,W], w [M,N,K,K], bias [M] -> y [B,M,OH,OW]."""
        stride = _int_arg("stride", stride)
        padding = _int_arg("padding", padding)
        engine.check_fp_args(x, w, bias, stride, padding)
        if self.backend in ("rtl", "board"):
            return self._rtl("fp", x.shape, w.shape, stride, padding, x=x, w=w, bias=bias)
        y = engine.conv_fp(x, w, bias, stride, padding, self.config)
        self._record("fp", x.shape, w.shape, stride, padding)
        return y

    def conv2d_backward_input(
        self,
        dy: np.ndarray,
        w: np.ndarray,
        x_shape: Sequence[int],
        stride: int = 1,
        padding: int = 0,
    ) -> np.ndarray:
        """Input gradient (BP): dy [B,M,OH,OW], w [M,N,K,K] -> dx of shape ``x_shape``."""
        stride = _int_arg("stride", stride)
        padding = _int_arg("padding", padding)
        x_shape = _shape_arg("x_shape", x_shape)
        engine.check_bp_args(dy, w, x_shape, stride, padding)
        if self.backend in ("rtl", "board"):
            return self._rtl("bp", x_shape, w.shape, stride, padding, dy=dy, w=w, x_shape=tuple(x_shape))
        dx = engine.conv_bp(dy, w, x_shape, stride, padding, self.config)
        self._record("bp", x_shape, w.shape, stride, padding)
        return dx

    def conv2d_backward_weight(
        self,
        x: np.ndarray,
        dy: np.ndarray,
        w_shape: Sequence[int],
        stride: int = 1,
        padding: int = 0,
    ) -> np.ndarray:
        """Weight gradient (WU): x [B,N,H,W], dy [B,M,OH,OW] -> dw of shape ``w_shape``."""
        stride = _int_arg("stride", stride)
        padding = _int_arg("padding", padding)
        w_shape = _shape_arg("w_shape", w_shape)
        engine.check_wu_args(x, dy, w_shape, stride, padding)
        if self.backend in ("rtl", "board"):
            return self._rtl("wu", x.shape, w_shape, stride, padding, x=x, dy=dy, w_shape=tuple(w_shape))
        dw = engine.conv_wu(x, dy, w_shape, stride, padding, self.config)
        self._record("wu", x.shape, w_shape, stride, padding)
        return dw

    def _rtl(
        self, phase: str, layer_x: Sequence[int], layer_w: Sequence[int], stride: int, padding: int,
        **arrays: Any,
    ) -> np.ndarray:
        if self.backend == "board":
            run = self._driver.run_layer(phase, stride=stride, padding=padding, **arrays)
            self._record(phase, layer_x, layer_w, stride, padding, measured=run)
            self._stats.update(cycles_source="measured: the accelerator's CYCLES counter (START to DONE) "
                                             "through the PYNQ driver",
                               wall_seconds=run.wall_seconds)
            return run.result
        from eftrain import rtl_backend

        run = rtl_backend.run_phase(self.config, phase, stride=stride, padding=padding, **arrays)
        self._record(phase, layer_x, layer_w, stride, padding, measured=run)
        return run.result

    # -- statistics -----------------------------------------------------------------------
    def _record(
        self, phase: str, x_shape: Sequence[int], w_shape: Sequence[int], stride: int, padding: int,
        measured: Any = None,
    ) -> None:
        from eftrain import perf  # imported late: the model is only needed for statistics
        from eftrain.networks import ConvLayer

        b, n, h, wd = (int(v) for v in x_shape)
        m, _, k, _ = (int(v) for v in w_shape)
        layer = ConvLayer(name="call", m=m, n=n, h=h, w=wd, k=k, s=stride, p=padding)
        est = perf.model_layer(layer, phase, self.config, batch=b)
        self._stats = {
            "backend": self.backend,
            "config": self.config.name,
            "op": {"fp": "conv2d", "bp": "conv2d_backward_input", "wu": "conv2d_backward_weight"}[phase],
            "phase": phase,
            "x_shape": (b, n, h, wd),
            "w_shape": (m, n, k, k),
            "stride": stride,
            "padding": padding,
            "macs": est.macs,
            "cycles": est.cycles,
            "utilization": est.utilization,
            "gflops": est.gflops,
            "dram_bytes": est.dram_bytes,
            "cycles_source": "analytical model (eftrain.perf)",
        }
        if measured is not None:
            from eftrain.perf import Tiling

            tr, chunk = measured.tiling
            has_bias = measured.descriptor is not None and bool(measured.descriptor.flags & 1)
            pred = perf.model_layer(layer, phase, self.config, batch=b, tiling=Tiling(tr, chunk),
                                    bias=has_bias)
            cyc = measured.cycles
            bus = self.config.bus_bits // 8
            self._stats.update(
                cycles=cyc,
                utilization=est.macs / (self.config.tm * self.config.tn * cyc),
                gflops=2 * est.macs / (cyc / (self.config.clock_mhz * 1e6)) / 1e9,
                dram_bytes=(measured.counters["AXI_RD_BEATS"] + measured.counters["AXI_WR_BEATS"]) * bus,
                cycles_source="measured: RTL simulation of eftrain_top (CYCLES counter, START to DONE)",
                counters=dict(measured.counters),
                tiling={"tr": tr, "chunk": chunk},
                predicted_cycles=pred.cycles,
            )


def _board_driver(interface: Any, config: HwConfig) -> Any:
    """The PYNQ driver (``board/pynq/driver.py``) over ``interface``, or over the board found
    through ``pynq``; a clear ``ValueError`` when there is neither."""
    if interface is None and importlib.util.find_spec("pynq") is None:
        raise ValueError(
            "backend 'board' needs a board interface: pass interface=... (an object with read32, "
            "write32, alloc, sync_to_device, sync_from_device and wait_irq, e.g. "
            "board.pynq.pynq_io.PynqIO(bitstream) on a ZCU102, tb.board.sim_io.SimIO in the RTL "
            "simulation), or run on a PYNQ board (the pynq package is not installed here)"
        )
    if not (_REPO_ROOT / "board" / "pynq" / "driver.py").is_file():
        raise ValueError(f"backend 'board' needs the source tree (board/ beside the eftrain package); "
                         f"not found under {_REPO_ROOT}")
    if str(_REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(_REPO_ROOT))
    from board.pynq.driver import EftrainDriver, check_io

    if interface is None:
        from board.pynq.pynq_io import PynqIO

        interface = PynqIO()
    check_io(interface)
    return EftrainDriver(interface, config)
