"""The PYNQ driver of the accelerator (:mod:`board.pynq.driver`), its board interface
(:mod:`board.pynq.pynq_io`, imports ``pynq`` only when used) and the INA226 power monitors
(:mod:`board.pynq.power`)."""

from board.pynq.driver import (
    AcceleratorError,
    AcceleratorTimeout,
    BoardIO,
    DeviceMismatch,
    DmaBuffer,
    DriverError,
    EftrainDriver,
    LayerResult,
    RunResult,
    check_io,
)

__all__ = [
    "AcceleratorError",
    "AcceleratorTimeout",
    "BoardIO",
    "DeviceMismatch",
    "DmaBuffer",
    "DriverError",
    "EftrainDriver",
    "LayerResult",
    "RunResult",
    "check_io",
]
