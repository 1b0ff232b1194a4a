"""Cycle counts of the engine's tile commands: the one formula shared by RTL, tests and model.

These are the closed formulas documented in ``rtl/eftrain_engine.sv`` (accept cycle to done
pulse of one tile command). The engine testbench asserts that every measured tile command takes
exactly :func:`tile_cycles`; the analytical model (:mod:`eftrain.perf`) builds its compute time
from the same functions.

With ``P = rows_out * cols_out`` output pixels and ``TREE_LAT = ceil(log2 Tn) * ADD_LAT``:

* FP, BP: ``K*K*max(P, ADD_LAT + 1) + MUL_LAT + TREE_LAT + ADD_LAT + 4``
* WU: ``K*K*P + MUL_LAT + ADD_LAT + 4``
* WU_CLEAR: ``K*K*L + 3``
* WU_COMBINE: ``2*K*K*(L-1) + (ceil(log2 L) - 1)*(ADD_LAT + 1) + ADD_LAT + 4``

Back-to-back commands take the sum (the next command is accepted in the done cycle).
"""

from __future__ import annotations

from eftrain.config import HwConfig, preset

__all__ = [
    "MODES",
    "fp_drain",
    "fp_pass_min",
    "levels",
    "tile_cycles",
    "wu_clear_cycles",
    "wu_combine_cycles",
    "wu_drain",
]

MODES = ("fp", "bp", "wu", "wu_clear", "wu_combine")


def levels(n: int) -> int:
    """ceil(log2 n): adder levels of a tree over n lanes."""
    return 0 if n <= 1 else (n - 1).bit_length()


def fp_pass_min(cfg: HwConfig | str) -> int:
    """Fewest cycles of one kernel-position pass (the accumulator feedback: read, add, write)."""
    return preset(cfg).add_latency + 1


def fp_drain(cfg: HwConfig | str) -> int:
    """FP/BP cycles per tile command on top of the passes (pipeline drain and hand-over)."""
    c = preset(cfg)
    return c.mul_latency + levels(c.tn) * c.add_latency + c.add_latency + 4


def wu_drain(cfg: HwConfig | str) -> int:
    """WU cycles per tile command on top of ``K*K*P``."""
    c = preset(cfg)
    return c.mul_latency + c.add_latency + 4


def wu_clear_cycles(cfg: HwConfig | str, k: int) -> int:
    return k * k * preset(cfg).acc_interleave + 3


def wu_combine_cycles(cfg: HwConfig | str, k: int) -> int:
    c = preset(cfg)
    big_l = c.acc_interleave
    return 2 * k * k * (big_l - 1) + (levels(big_l) - 1) * (c.add_latency + 1) + c.add_latency + 4


def tile_cycles(cfg: HwConfig | str, mode: str, k: int, rows_out: int = 1, cols_out: int = 1) -> int:
    """Cycles from the accept of one tile command to its done pulse."""
    p = rows_out * cols_out
    kk = k * k
    if mode in ("fp", "bp"):
        return kk * max(p, fp_pass_min(cfg)) + fp_drain(cfg)
    if mode == "wu":
        return kk * p + wu_drain(cfg)
    if mode == "wu_clear":
        return wu_clear_cycles(cfg, k)
    if mode == "wu_combine":
        return wu_combine_cycles(cfg, k)
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
