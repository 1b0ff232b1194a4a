"""Hardware configuration: the one source of the accelerator's parameters.

The presets live in ``presets.json`` next to this module. Everything that needs a
hardware parameter (golden model, analytical model, RTL parameter packages, HLS
headers, testbenches) gets it from a :class:`HwConfig` built here, never from a
literal of its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["HwConfig", "preset", "preset_names"]


@dataclass(frozen=True)
class HwConfig:
    """Parameters of one accelerator build.

    Attributes:
        name: preset name (used to name build directories).
        tm: output lanes of the multiply array (rows; one adder tree each).
        tn: input lanes of the multiply array (adder-tree width).
        acc_interleave: L, the number of interleaved partial sums per weight-gradient
            accumulator in WU (hides the adder's feedback latency; part of the order
            contract, see :mod:`eftrain.golden.engine`).
        mul_latency: pipeline stages of the FP32 multiplier.
        add_latency: pipeline stages of the FP32 adder.
        bus_bits: AXI data width in bits.
        in_buf_depth: input-buffer words per input lane (one bank of the double buffer).
        out_buf_depth: output-buffer words per output lane.
        w_buf_depth: weight-buffer words per (m, n) lane: the weights of several
            input-channel tiles in FP/BP (K*K words each), the L interleaved WU partial
            sums (K*K*L words per tile) in WU.
        clock_mhz: clock the analytical model reports GFLOPS at.
        dram_latency: cycles from a read request to its first data beat.
        dma_startup: fixed cycles per DMA transfer before the first request.
        vu_buf_depth: words of the vector unit's plane buffer (a windowed pooling op holds one
            channel block of one image's map: ``H * W * Tn`` words, see
            :mod:`eftrain.descriptors`).
    """

    name: str
    tm: int
    tn: int
    acc_interleave: int
    mul_latency: int
    add_latency: int
    bus_bits: int
    in_buf_depth: int
    out_buf_depth: int
    w_buf_depth: int
    clock_mhz: float
    dram_latency: int
    dma_startup: int
    vu_buf_depth: int

    def __post_init__(self) -> None:
        for field in ("tm", "tn", "acc_interleave", "mul_latency", "add_latency",
                      "in_buf_depth", "out_buf_depth", "w_buf_depth", "vu_buf_depth"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"HwConfig.{field} must be a positive integer, got {value!r}")
        if self.bus_bits < 32 or self.bus_bits % 32:
            raise ValueError(f"HwConfig.bus_bits must be a multiple of 32, got {self.bus_bits}")
        if self.acc_interleave < self.add_latency + 1:
            raise ValueError(
                f"HwConfig.acc_interleave ({self.acc_interleave}) must be at least the adder latency + 1 "
                f"({self.add_latency + 1}): a WU partial sum is read, added and written back in "
                "add_latency + 1 cycles and revisited every acc_interleave cycles"
            )
        if self.clock_mhz <= 0:
            raise ValueError(f"HwConfig.clock_mhz must be positive, got {self.clock_mhz}")

    @property
    def words_per_beat(self) -> int:
        """FP32 words per AXI data beat."""
        return self.bus_bits // 32

    @property
    def macs_per_cycle(self) -> int:
        return self.tm * self.tn

    @property
    def peak_gflops(self) -> float:
        """Peak GFLOPS (2 FLOPs per MAC) at ``clock_mhz``."""
        return 2.0 * self.macs_per_cycle * self.clock_mhz / 1e3

    def rtl_parameters(self) -> dict[str, int]:
        """Parameters of the ``eftrain_engine`` RTL module for this configuration."""
        return {
            "TM": self.tm,
            "TN": self.tn,
            "ACC_L": self.acc_interleave,
            "MUL_LAT": self.mul_latency,
            "ADD_LAT": self.add_latency,
            "IN_DEPTH": self.in_buf_depth,
            "OUT_DEPTH": self.out_buf_depth,
            "W_DEPTH": self.w_buf_depth,
            "WPB": self.words_per_beat,
        }

    def top_parameters(self) -> dict[str, int]:
        """Parameters of the accelerator top level ``eftrain_top``: the engine's plus the vector
        unit's plane buffer ``VU_DEPTH``."""
        return {**self.rtl_parameters(), "VU_DEPTH": self.vu_buf_depth}

    def top_level_problem(self) -> str | None:
        """Why ``rtl/eftrain_top.sv`` cannot be built for this configuration, or ``None``.

        The reshaped feature-map layout stores Tn channels per pixel for every map, and the
        layer controller moves whole pixels per bus beat: it needs Tm == Tn, Tn a multiple of
        the words per bus beat, and a power-of-two interleave L.
        """
        if self.tm != self.tn:
            return f"the accelerator top level needs Tm == Tn (preset {self.name}: {self.tm} x {self.tn})"
        if self.tn % self.words_per_beat:
            return (f"the accelerator top level needs Tn ({self.tn}) to be a multiple of the bus words "
                    f"({self.words_per_beat})")
        if self.acc_interleave & (self.acc_interleave - 1):
            return f"the accelerator top level needs a power-of-two L (got {self.acc_interleave})"
        return None

    def with_(self, **changes: Any) -> HwConfig:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _presets() -> dict[str, dict[str, Any]]:
    text = resources.files("eftrain").joinpath("presets.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def preset_names() -> list[str]:
    return list(_presets())


def preset(name: str | HwConfig = "ci") -> HwConfig:
    """The :class:`HwConfig` of a named preset (``ci``, ``zcu102``, ``odd``).

    A :class:`HwConfig` passed in is returned unchanged, so APIs can take either.
    """
    if isinstance(name, HwConfig):
        return name
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return HwConfig(name=name, **presets[name])
