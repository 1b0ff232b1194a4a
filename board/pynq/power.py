"""Board power from the ZCU102's INA226 rail monitors (PMBus/I2C, exposed by Linux hwmon).

On the ZCU102 the INA226 current/power monitors of the supply rails (VCCINT, VCCBRAM, VCCAUX,
the PS rails, DDR, ...) are bound to the ``ina2xx`` hwmon driver on a PYNQ image: each rail is a
``/sys/class/hwmon/hwmonN`` directory with ``name`` = ``ina226`` and ``power1_input`` in
microwatts. :class:`PowerSampler` samples the sum of every rail in a thread while a workload runs.
Where no such directory exists (a PC, a kernel without the driver) :func:`find_rails` returns
nothing and the callers skip power with a note. ``EFTRAIN_HWMON`` points at another directory
(tests use a fake tree).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["HWMON", "PowerSampler", "Rail", "find_rails", "read_watts"]

HWMON = Path("/sys/class/hwmon")


@dataclass(frozen=True)
class Rail:
    """One INA2xx monitor: a label (the rail or the I2C device) and its hwmon directory."""

    label: str
    path: Path

    def watts(self) -> float:
        return int((self.path / "power1_input").read_text().split()[0]) / 1e6


def _label(d: Path) -> str:
    for f in ("label", "power1_label", "in1_label"):
        p = d / f
        if p.is_file():
            return p.read_text().strip()
    dev = d / "device"
    try:
        return dev.resolve().name if dev.exists() else d.name
    except OSError:
        return d.name


def find_rails(root: Path | None = None) -> list[Rail]:
    """Every INA2xx monitor under ``root`` (``$EFTRAIN_HWMON`` or /sys/class/hwmon)."""
    if root is None:
        root = Path(os.environ.get("EFTRAIN_HWMON", str(HWMON)))
    rails: list[Rail] = []
    if not root.is_dir():
        return rails
    for d in sorted(root.iterdir()):
        name = d / "name"
        try:
            if not name.is_file() or not name.read_text().strip().startswith("ina2"):
                continue
        except OSError:
            continue
        if (d / "power1_input").is_file():
            rails.append(Rail(_label(d), d))
    return rails


def read_watts(rails: list[Rail]) -> dict[str, float]:
    """Power of each rail now, in watts (a rail that cannot be read is left out)."""
    out: dict[str, float] = {}
    for r in rails:
        try:
            out[r.label] = r.watts()
        except (OSError, ValueError, IndexError):
            continue
    return out


@dataclass
class PowerSampler:
    """Sample the total of ``rails`` every ``interval`` seconds while the ``with`` block runs.

    ``mean_watts`` is the mean of the totals (``None`` with no rails or no sample);
    ``per_rail`` the mean of each rail.
    """

    rails: list[Rail]
    interval: float = 0.02
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _loop(self) -> None:
        while True:
            s = read_watts(self.rails)
            if s:
                self.samples.append(s)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PowerSampler:
        if self.rails:
            self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.rails and not self.samples:
            s = read_watts(self.rails)
            if s:
                self.samples.append(s)

    @property
    def mean_watts(self) -> float | None:
        if not self.samples:
            return None
        return sum(sum(s.values()) for s in self.samples) / len(self.samples)

    @property
    def per_rail(self) -> dict[str, float]:
        keys = {k for s in self.samples for k in s}
        return {k: sum(s.get(k, 0.0) for s in self.samples) / len(self.samples) for k in sorted(keys)}
