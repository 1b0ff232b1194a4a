"""EF-Train, open: an open, verified FPGA accelerator for on-device CNN training.

``eftrain.Device`` is the user-facing entry point (SPEC section 6); ``eftrain.golden``
holds the torch reference ops and the bit-exact functional model of the hardware;
``eftrain.perf`` the analytical performance model; ``eftrain.config`` the hardware
parameters.
"""

from eftrain.config import HwConfig, preset
from eftrain.device import Device

__all__ = ["Device", "HwConfig", "preset"]
__version__ = "0.1.0"
