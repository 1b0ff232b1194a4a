"""The EF-Train host driver: descriptor programs on the accelerator through one small I/O object.

:class:`EftrainDriver` does everything a host does with the accelerator (SPEC section 9): it
checks the register block (ID, version, hardware parameters), lays tensors and descriptor
programs out in one physically contiguous DMA buffer (:mod:`eftrain.program`: the reshaped
layouts, the tiling of the analytical model), programs the registers, starts the program, waits
for the interrupt, reads STATUS, ERR_CODE and the performance counters, and decodes the results.
An error code raises :class:`AcceleratorError`.

All hardware access goes through ONE interface object (:class:`BoardIO`), so the very same code
runs on the ZCU102 (``board/pynq/pynq_io.py``: pynq ``Overlay``/``MMIO``/``allocate``/
``Interrupt``) and against the RTL simulation (``tb/board/sim_io.py``: cocotb, AXI4-Lite
transactions, a DRAM model)::

    io = PynqIO("build/zcu102/bitstream/eftrain.bit")        # or SimIO inside a cocotb test
    drv = EftrainDriver(io, "zcu102")                          # checks ID, version, parameters
    run = drv.run_layer("fp", x=x, w=w, stride=1, padding=1)   # bit-exact with eftrain.golden
    run.result, run.cycles, run.counters

Memory: the driver owns one DMA buffer (the *arena*) and makes it the accelerator's memory window
[WINDOW_BASE, WINDOW_LIMIT): every tensor and the program live inside it, so the hardware's
window check bounds every DMA access to memory this process allocated. The arena is reused and
grows when a program needs more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from eftrain import csr as csr_mod
from eftrain.config import HwConfig, preset
from eftrain.descriptors import DESC_BYTES, Descriptor, ErrCode, encode_program
from eftrain.program import ALIGN, LayerProgram, MemoryPlan, layer_program

__all__ = [
    "IO_METHODS",
    "PROGRAM_RESERVE",
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

#: Bytes every plan keeps free for its program (64 descriptors).
PROGRAM_RESERVE = 64 * DESC_BYTES
#: The methods a hardware interface must have.
IO_METHODS = ("read32", "write32", "alloc", "sync_to_device", "sync_from_device", "wait_irq")


# ------------------------------------------------------------------------------------------------
# The hardware interface.

@dataclass
class DmaBuffer:
    """Physically contiguous memory the accelerator can reach.

    ``words`` is the host's view (uint32, the buffer's whole size); ``physical_address`` the bus
    address the accelerator uses; ``handle`` whatever the interface needs (a pynq buffer).
    """

    physical_address: int
    words: np.ndarray
    handle: Any = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        return 4 * int(self.words.size)


@runtime_checkable
class BoardIO(Protocol):
    """All the hardware access the driver needs.

    * ``read32(offset)`` / ``write32(offset, value)``: a 32-bit register of the AXI4-Lite block
      (byte offset in its 4 KiB);
    * ``alloc(nbytes) -> DmaBuffer``: physically contiguous, at least 64-byte aligned (a page on
      the board); ``free(buf)`` (optional) gives it back;
    * ``sync_to_device(buf)`` / ``sync_from_device(buf)``: cache maintenance (flush before the
      accelerator reads, invalidate before the host reads what it wrote);
    * ``wait_irq(timeout) -> bool``: True once the interrupt line is high (it is level-sensitive:
      high while IRQ_STATUS & IRQ_ENABLE), False after ``timeout`` seconds of accelerator time
      without it. An interface without an interrupt may poll IRQ_STATUS instead.
    """

    def read32(self, offset: int) -> int: ...

    def write32(self, offset: int, value: int) -> None: ...

    def alloc(self, nbytes: int) -> DmaBuffer: ...

    def sync_to_device(self, buf: DmaBuffer) -> None: ...

    def sync_from_device(self, buf: DmaBuffer) -> None: ...

    def wait_irq(self, timeout: float) -> bool: ...


def check_io(io: Any) -> None:
    """``ValueError`` naming what ``io`` lacks to be a :class:`BoardIO`."""
    missing = [m for m in IO_METHODS if not callable(getattr(io, m, None))]
    if missing:
        raise ValueError(f"interface {type(io).__name__} is not a board interface: it lacks "
                         f"{', '.join(missing)} (needs {', '.join(IO_METHODS)})")


# ------------------------------------------------------------------------------------------------
# Errors and results.

class DriverError(RuntimeError):
    """The accelerator did not do what the driver asked."""


class DeviceMismatch(DriverError, ValueError):
    """The register block is not the accelerator this software was built for (ID, version,
    hardware parameters)."""


class AcceleratorError(DriverError):
    """The accelerator stopped a program with an error code (STATUS.ERROR, ERR_CODE)."""

    def __init__(self, code: ErrCode, index: int, descriptor: Descriptor | None,
                 counters: dict[str, int] | None = None) -> None:
        self.code = code
        self.index = index
        self.descriptor = descriptor
        self.counters = dict(counters or {})
        what = ""
        if descriptor is not None:
            try:
                from eftrain.descriptors import Opcode

                op = Opcode(descriptor.opcode).name
            except ValueError:
                op = f"opcode {descriptor.opcode:#x}"
            what = (f" ({op} B={descriptor.batch} M={descriptor.m} N={descriptor.n} H={descriptor.h} "
                    f"W={descriptor.w} K={descriptor.k} S={descriptor.stride} P={descriptor.pad})")
        desc = csr_mod.ERR_DESCRIPTIONS.get(code, "")
        super().__init__(f"the accelerator stopped at descriptor {index}{what} with error "
                         f"{code.name} ({int(code):#04x}): {desc}")


class AcceleratorTimeout(DriverError):
    """No interrupt within the time bound: the driver soft-reset the accelerator."""


@dataclass(frozen=True)
class RunResult:
    """What one program run left in the registers."""

    status: dict[str, int]
    counters: dict[str, int]
    descriptors: tuple[Descriptor, ...]
    window: tuple[int, int]
    wall_seconds: float          # host wall time: START written to the interrupt seen
    prog_addr: int = 0           # where the program is (run it again with driver.run)

    @property
    def cycles(self) -> int:
        """CYCLES counter: START to DONE."""
        return self.counters["CYCLES"]


@dataclass(frozen=True)
class LayerResult:
    """One layer phase on the accelerator (the fields :class:`eftrain.device.Device` reads)."""

    result: np.ndarray
    cycles: int                  # this program's CYCLES counter (the whole program: fetch, every tile)
    counters: dict[str, int]
    tiling: tuple[int, int]
    macs: int
    descriptor: Descriptor
    wall_seconds: float


# ------------------------------------------------------------------------------------------------
# The driver.

class EftrainDriver:
    """The accelerator behind one :class:`BoardIO`.

    Args:
        io: the hardware interface.
        config: the hardware preset the bitstream was built for (``"zcu102"`` on the board);
            the driver checks the parameter registers against it (``check``).
        check: read ID, VERSION and the parameter registers and raise :class:`DeviceMismatch`
            when they disagree with this software and ``config``.
        timeout: seconds of accelerator time a program may take before :class:`AcceleratorTimeout`;
            ``None``: 20 times the analytical model's estimate plus 10 ms.
    """

    def __init__(self, io: BoardIO, config: str | HwConfig = "zcu102", *, check: bool = True,
                 timeout: float | None = None) -> None:
        check_io(io)
        self.io = io
        self.config = preset(config)
        self.csr = csr_mod.Csr(io.read32, io.write32)
        self.timeout = timeout
        self._arena: DmaBuffer | None = None
        self._programs = 0
        self.version: tuple[int, int, int] | None = None
        if check:
            self.identify()

    # -- identification ---------------------------------------------------------------------------
    def identify(self) -> dict[str, Any]:
        """ID, register-map version and hardware parameters; :class:`DeviceMismatch` if they are
        not this software's and ``config``'s."""
        try:
            self.version = self.csr.check_id()
        except csr_mod.CsrError as exc:
            raise DeviceMismatch(str(exc)) from None
        hw = self.csr.hw_params()
        want = {attr: getattr(self.config, attr) for attr in hw}
        bad = {k: (hw[k], want[k]) for k in hw if hw[k] != want[k]}
        if bad:
            text = ", ".join(f"{k}={got} (preset {self.config.name}: {exp})" for k, (got, exp) in bad.items())
            raise DeviceMismatch(f"the accelerator's parameter registers disagree with preset "
                                 f"{self.config.name!r}: {text}; load the matching bitstream or "
                                 "pass the preset it was built from")
        return {"id": self.csr.read("ID"), "version": self.version, "params": hw}

    # -- memory -----------------------------------------------------------------------------------
    def plan(self, nbytes: int) -> MemoryPlan:
        """An empty :class:`MemoryPlan` over the arena, with room for ``nbytes`` of regions plus
        :data:`PROGRAM_RESERVE` for the program; the window of the next run."""
        need = -(-(int(nbytes) + PROGRAM_RESERVE) // 4096) * 4096
        if self._arena is None or self._arena.nbytes < need:
            self.release()
            buf = self.io.alloc(need)
            if buf.physical_address % ALIGN:
                raise DriverError(f"the interface returned a buffer at {buf.physical_address:#x}, "
                                  f"not {ALIGN}-byte aligned")
            self._arena = buf
        base = self._arena.physical_address
        return MemoryPlan(base, base + self._arena.nbytes)

    def release(self) -> None:
        """Give the arena back to the interface."""
        if self._arena is not None:
            free = getattr(self.io, "free", None)
            if callable(free):
                free(self._arena)
            self._arena = None

    close = release

    def words(self, addr: int, count: int) -> np.ndarray:
        """``count`` words of the arena at bus address ``addr`` (a copy; valid after a run)."""
        if self._arena is None:
            raise DriverError("no arena: nothing has run yet")
        lo = (addr - self._arena.physical_address) // 4
        if addr % 4 or lo < 0 or lo + count > self._arena.words.size:
            raise ValueError(f"[{addr:#x}, +{4 * count}) is outside the arena")
        return np.array(self._arena.words[lo:lo + count], dtype=np.uint32)

    # -- running programs -------------------------------------------------------------------------
    def execute(self, plan: MemoryPlan, descriptors: Sequence[Descriptor], *,
                timeout: float | None = None) -> RunResult:
        """Allocate ``descriptors`` as a program in ``plan`` (made by :meth:`plan`), copy every
        region into the arena, run the program and bring the arena back to the host."""
        if self._arena is None or plan.base != self._arena.physical_address:
            raise DriverError("the plan does not belong to this driver's arena (use driver.plan())")
        descriptors = tuple(descriptors)
        self._programs += 1
        prog = plan.alloc(f"_program{self._programs}", encode_program(list(descriptors)))
        arena = self._arena
        for r in plan.regions.values():
            lo = (r.addr - plan.base) // 4
            arena.words[lo:lo + r.data.size] = r.data
        self.io.sync_to_device(arena)
        try:
            return self.run(prog, len(descriptors), (plan.base, plan.limit), descriptors=descriptors,
                            timeout=timeout)
        finally:  # after an error too: what the program wrote before it stopped is readable
            self.io.sync_from_device(arena)

    def run(self, prog_addr: int, count: int, window: tuple[int, int], *,
            descriptors: Sequence[Descriptor] = (), timeout: float | None = None) -> RunResult:
        """The register sequence of one program already in memory.

        WINDOW_*, PROG_BASE_*, PROG_COUNT, IRQ_ENABLE (DONE, ERROR), CTRL (CLEAR_COUNTERS | START),
        wait for the interrupt, read STATUS, ERR_CODE and every counter, clear IRQ_STATUS. Raises
        :class:`AcceleratorError` if the program stopped on an error, :class:`AcceleratorTimeout`
        (after a soft reset) if it did not stop in time.
        """
        csr = self.csr
        status = csr.status()
        if status["BUSY"]:
            raise DriverError("the accelerator is busy (a program is running): soft_reset() first")
        csr.write64("WINDOW_BASE", window[0])
        csr.write64("WINDOW_LIMIT", window[1])
        csr.write64("PROG_BASE", prog_addr)
        csr.write_fields("PROG_COUNT", COUNT=count)
        csr.write_fields("IRQ_ENABLE", DONE=1, ERROR=1)
        csr.write_fields("IRQ_STATUS", DONE=1, ERROR=1)     # nothing stale pending
        limit = self._timeout(descriptors) if timeout is None else timeout
        t0 = time.perf_counter()
        csr.start(clear_counters=True)
        fired = self.io.wait_irq(limit)
        wall = time.perf_counter() - t0
        status = csr.status()
        if not fired or not status["DONE"]:
            self.soft_reset()
            raise AcceleratorTimeout(f"no interrupt within {limit:.3g} s of accelerator time "
                                     f"(STATUS {status}); the accelerator was soft-reset")
        code, index = csr.error()
        counters = csr.counters()
        csr.write_fields("IRQ_STATUS", DONE=1, ERROR=1)
        if status["ERROR"] or code != ErrCode.NONE:
            desc = descriptors[index] if index < len(descriptors) else None
            raise AcceleratorError(code, index, desc, counters)
        return RunResult(status=status, counters=counters, descriptors=tuple(descriptors),
                         window=window, wall_seconds=wall, prog_addr=prog_addr)

    def soft_reset(self, timeout: float = 0.01) -> None:
        """CTRL.SOFT_RESET; waits (``timeout`` s of accelerator time) for a running program to
        stop, then clears the interrupt."""
        csr = self.csr
        csr.write_fields("IRQ_ENABLE", DONE=1, ERROR=1)
        busy = csr.status()["BUSY"]
        csr.soft_reset()
        if busy:
            self.io.wait_irq(timeout)
        csr.write_fields("IRQ_STATUS", DONE=1, ERROR=1)

    def _timeout(self, descriptors: Sequence[Descriptor]) -> float:
        if self.timeout is not None:
            return self.timeout
        from eftrain import perf
        from eftrain.networks import ConvLayer

        seconds = 0.0
        for d in descriptors:
            try:
                layer = ConvLayer("", m=d.m, n=d.n, h=d.h, w=d.w, k=d.k, s=d.stride, p=d.pad)
                est = perf.model_layer(layer, d.phase, self.config, batch=d.batch,
                                       tiling=perf.Tiling(d.tr, d.chunk))
                seconds += est.cycles / (self.config.clock_mhz * 1e6)
            except (ValueError, KeyError, ZeroDivisionError):
                seconds += 1e-4      # an illegal descriptor stops within microseconds
        return 20 * seconds + 0.01

    # -- layers -----------------------------------------------------------------------------------
    def layer_bytes(self, phases: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Bytes the regions of ``phases`` take (a dry run of :func:`eftrain.program.layer_program`)."""
        dry = MemoryPlan(0, 1 << 40)
        for i, (phase, arrays) in enumerate(phases):
            layer_program(self.config, phase, plan=dry, prefix=f"p{i}_", program=False, **arrays)
        return dry.top

    def prepare(self, phases: Sequence[tuple[str, dict[str, Any]]]) -> tuple[MemoryPlan, list[LayerProgram]]:
        """A plan over the arena holding every phase's tensors (no program yet)."""
        plan = self.plan(self.layer_bytes(phases))
        layers = [layer_program(self.config, phase, plan=plan, prefix=f"p{i}_", program=False, **arrays)
                  for i, (phase, arrays) in enumerate(phases)]
        return plan, layers

    def run_layers(self, phases: Sequence[tuple[str, dict[str, Any]]], *,
                   timeout: float | None = None) -> list[LayerResult]:
        """Several layer phases as ONE program, in order; each entry is (phase, arrays).

        ``arrays`` as :func:`eftrain.program.layer_program` takes them: ``fp``: x, w (, bias);
        ``bp``: dy, w, x_shape; ``wu``: x, dy, w_shape; plus stride, padding, tiling.
        The counters are the whole program's.
        """
        plan, layers = self.prepare(phases)
        run = self.execute(plan, [d for lp in layers for d in lp.descriptors], timeout=timeout)
        out = []
        for lp in layers:
            region = plan.regions[lp.output]
            d = lp.descriptors[0]
            out.append(LayerResult(result=lp.decode(self.words(region.addr, region.data.size)),
                                   cycles=run.cycles, counters=run.counters, tiling=(d.tr, d.chunk),
                                   macs=lp.macs, descriptor=d, wall_seconds=run.wall_seconds))
        return out

    def run_layer(self, phase: str, **arrays: Any) -> LayerResult:
        """One layer phase (``fp``, ``bp``, ``wu``) as a one-descriptor program."""
        timeout = arrays.pop("timeout", None)
        return self.run_layers([(phase, arrays)], timeout=timeout)[0]
