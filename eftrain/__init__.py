"""EF-Train, open: an open, verified FPGA accelerator for on-device CNN training.

``eftrain.Device`` is the user-facing entry point (SPEC section 6); ``eftrain.golden``
holds the torch reference ops and the bit-exact functional model of the hardware;
``eftrain.perf`` the analytical performance model; ``eftrain.config`` the hardware
parameters.

``Device`` is imported lazily: it pulls in torch, which simulator processes that only
need the configuration or the register map should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eftrain.config import HwConfig, preset

if TYPE_CHECKING:
    from eftrain.device import Device

__all__ = ["Device", "HwConfig", "preset"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Device":
        from eftrain.device import Device

        return Device
    raise AttributeError(f"module 'eftrain' has no attribute {name!r}")
