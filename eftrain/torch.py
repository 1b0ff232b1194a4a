"""PyTorch integration: train an ``nn.Module`` on the accelerator.

::

    from eftrain.torch import Trainer

    trainer = Trainer(model, device="golden", lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss = trainer.step(x, y)        # x float32 NCHW, y int64 labels: one training iteration
    trainer.stats                    # per-layer, per-phase cycles of that iteration

One :meth:`Trainer.step` runs one whole iteration on the accelerator: the forward program (FP of
every layer), the host's softmax cross-entropy on the logits it reads back, the backward program
(BP, WU and the SGD update of every layer; :mod:`eftrain.compiler` lays them out). The updated
parameters and batch-norm running statistics are then written back into ``model`` in place (bit
patterns unchanged), and ``num_batches_tracked`` counts the step, so ``model`` can be evaluated,
saved or trained further with torch at any time. Parameters are uploaded from ``model`` before
every step (edits between steps are honoured); the SGD momentum buffers stay in the
accelerator's memory for the trainer's lifetime.

Backends (the same programs, the same memory image, the same bits):

* ``"golden"``: :class:`eftrain.machine.GoldenMachine`, the bit-exact model; ``stats`` are the
  analytical model's cycles for each descriptor (:func:`eftrain.perf.descriptor_cycles`).
* ``"rtl"``: the Verilated accelerator (``rtl/eftrain_top.sv``, the harness of ``tb/top``); each
  descriptor runs as its own program so ``stats`` are measured cycles (CYCLES counter) per op.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from eftrain.compiler import CompiledModel, compile_model
from eftrain.config import HwConfig, preset
from eftrain.descriptors import ErrCode
from eftrain.golden import reference

__all__ = ["Trainer", "TrainerError"]

F32 = np.float32


class TrainerError(RuntimeError):
    """The accelerator stopped a program with an error code."""


class _Memory:
    """A DRAM image the backends share: window base, words, and how to run a program on it."""

    def __init__(self, cfg: HwConfig, base: int, words: int) -> None:
        self.cfg = cfg
        self.base = base
        self.mem = np.zeros(words, np.uint32)

    def write(self, addr: int, words: np.ndarray) -> None:
        w = np.ascontiguousarray(words).view(np.uint32).reshape(-1)
        lo = (addr - self.base) // 4
        self.mem[lo:lo + w.size] = w

    def read(self, addr: int, count: int) -> np.ndarray:
        lo = (addr - self.base) // 4
        return self.mem[lo:lo + count].copy()


class _GoldenBackend(_Memory):
    name = "golden"

    def __init__(self, cfg: HwConfig, base: int, words: int) -> None:
        from eftrain.machine import GoldenMachine

        super().__init__(cfg, base, words)
        self.machine = GoldenMachine(cfg, (base, base + 4 * words))
        self.mem = self.machine.mem  # one image

    def run(self, addr: int, count: int) -> list[int | None]:
        run = self.machine.run(addr, count)
        if not run.ok:
            raise TrainerError(f"the golden machine stopped at descriptor {run.index} with {run.code.name}")
        return [None] * count


class _RtlBackend(_Memory):
    name = "rtl"

    def __init__(self, cfg: HwConfig, base: int, words: int, window: tuple[int, int]) -> None:
        super().__init__(cfg, base, words)
        self.window = window
        self.sim_seconds = 0.0

    def run(self, addr: int, count: int) -> list[int | None]:
        from eftrain.rtl_backend import runner

        rn = runner()
        knobs = rn.Knobs(rd_lat=self.cfg.dram_latency)
        programs = [(addr + 64 * i, 1) for i in range(count)]
        top, per = rn.run_programs(self.cfg, [(self.base, self.mem)], programs, self.window, knobs=knobs,
                                   name=f"trainer-{id(self):x}")
        self.sim_seconds += top.run_seconds
        if not top.finished or len(per) != count:
            raise TrainerError(f"the RTL simulation finished {len(per)} of {count} descriptors")
        for i, pr in enumerate(per):
            if pr.status.get("ERROR") or pr.err_code:
                raise TrainerError(f"the accelerator stopped descriptor {i} with {ErrCode(pr.err_code).name}")
        self.mem[:] = top.words(self.base, self.mem.size)
        return [int(pr.counters["CYCLES"]) for pr in per]


class Trainer:
    """Trains ``model`` on the accelerator with SGD (see the module documentation).

    Args:
        model: an ``nn.Module`` the compiler supports (:mod:`eftrain.compiler`), float32.
        device: ``"golden"`` or ``"rtl"``.
        lr, momentum, weight_decay: SGD settings (``torch.optim.SGD`` semantics, no dampening,
            no Nesterov), binary32 on the device.
        config: hardware preset.
        tiling: ``"model"`` (the analytical model's choice per layer phase) or ``"default"``.
        fuse_sgd: the weights' SGD in WU's write-back (default; ``Flag.SGD``), or as separate
            SGD descriptors after WU (the same bits; for comparison).
    """

    def __init__(self, model: Any, device: str = "golden", lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0, config: HwConfig | str = "ci", tiling: str = "model",
                 fuse_sgd: bool = True) -> None:
        import torch

        if device not in ("golden", "rtl"):
            raise ValueError(f"device: expected 'golden' or 'rtl', got {device!r}")
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        for name, p in model.state_dict().items():
            if p.is_floating_point() and p.dtype != torch.float32:
                raise ValueError(f"model: {name} is {p.dtype}; the accelerator trains float32 models")
        self.model = model
        self.device = device
        self.cfg = preset(config)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.tiling = tiling
        self.fuse_sgd = fuse_sgd
        self.compiled: CompiledModel | None = None
        self._backend: _GoldenBackend | _RtlBackend | None = None
        self.stats: dict[str, Any] = {}
        # validate the model and the settings now (a compile for a probe shape happens lazily)
        from eftrain.compiler import module_chain

        module_chain(model)

    # -- compilation ------------------------------------------------------------------------
    def _window(self) -> tuple[int, int]:
        if self.device == "rtl":
            from eftrain.rtl_backend import runner

            rn = runner()
            return rn.MEM_BASE, rn.MEM_BASE + rn.MEM_BYTES
        return 0x1000_0000, 0x1000_0000 + (1 << 30)

    def _compile(self, shape: tuple[int, ...]) -> CompiledModel:
        window = self._window()
        cm = compile_model(self.model, shape, self.cfg, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, window=window, tiling=self.tiling,
                           fuse_sgd=self.fuse_sgd)
        base, top = cm.plan.used
        words = (top - base) // 4
        old, old_backend = self.compiled, self._backend
        if self.device == "golden":
            be: _GoldenBackend | _RtlBackend = _GoldenBackend(self.cfg, base, words)
        else:
            be = _RtlBackend(self.cfg, base, words, window)
        for r in cm.plan.regions.values():
            be.write(r.addr, r.data)
        if old is not None and old_backend is not None:  # keep the momentum buffers
            for name, r in old.plan.regions.items():
                if name.endswith(".mom"):
                    be.write(cm.addr(name), old_backend.read(r.addr, r.data.size))
        self.compiled, self._backend = cm, be
        return cm

    # -- one iteration ----------------------------------------------------------------------
    def step(self, x: Any, y: Any) -> float:
        """One training iteration on the accelerator; returns the batch's mean cross-entropy loss."""
        import torch

        xa = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        ya = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if xa.dtype != F32:
            raise ValueError(f"x: expected float32, got {xa.dtype}")
        if xa.ndim not in (2, 4):
            raise ValueError(f"x: expected [B, C, H, W] or [B, N], got shape {xa.shape}")
        if not np.issubdtype(ya.dtype, np.integer) or ya.shape != (xa.shape[0],):
            raise ValueError(f"y: expected {xa.shape[0]} integer labels, got {ya.dtype} {ya.shape}")
        shape = xa.shape if xa.ndim == 4 else (xa.shape[0], xa.shape[1], 1, 1)
        cm = self.compiled
        if cm is None or cm.input_shape != tuple(shape):
            cm = self._compile(shape)
        if np.any(ya < 0) or np.any(ya >= cm.classes):
            raise ValueError(f"y: labels must be in [0, {cm.classes})")
        be = self._backend
        assert be is not None
        t0 = time.perf_counter()
        self._upload(cm, be)
        be.write(cm.addr(cm.input_region), cm.input_words(xa.reshape(shape)))
        fwd_cycles = be.run(cm.fwd_addr, len(cm.forward))
        logits = cm.logits(be.read(cm.addr(cm.logits_region), cm.plan.regions[cm.logits_region].data.size))
        loss, dlogits = reference.softmax_ce(logits, ya.astype(np.int64))
        be.write(cm.addr(cm.dlogits_region), cm.dlogits_words(dlogits))
        bwd_cycles = be.run(cm.bwd_addr, len(cm.backward))
        self._download(cm, be)
        self._record(cm, fwd_cycles, bwd_cycles, time.perf_counter() - t0)
        return float(loss)

    def _upload(self, cm: CompiledModel, be: Any) -> None:
        state = self.model.state_dict()
        for slot in cm.params:
            be.write(cm.addr(slot.region) + slot.offset, slot.pack(state[slot.name].detach().cpu().numpy()))

    def _download(self, cm: CompiledModel, be: Any) -> None:
        import torch

        state = self.model.state_dict()
        with torch.no_grad():
            for slot in cm.params:
                arr = slot.unpack(be.read(cm.addr(slot.region) + slot.offset, slot.words))
                t = state[slot.name]
                t.copy_(torch.from_numpy(np.ascontiguousarray(arr).reshape(t.shape)))
            for bn in cm.bn_modules:
                key = f"{bn}.num_batches_tracked"
                if key in state:
                    state[key] += 1

    def _record(self, cm: CompiledModel, fwd: list[int | None], bwd: list[int | None],
                seconds: float) -> None:
        from eftrain import perf
        from eftrain.descriptors import Opcode

        layers: dict[str, dict[str, int]] = {name: {} for name in cm.layers}
        total = 0
        measured = self.device == "rtl"
        macs = 0
        ops = []
        for op, cyc in [*zip(cm.forward, fwd, strict=True), *zip(cm.backward, bwd, strict=True)]:
            model = perf.descriptor_cycles(op.desc, self.cfg)
            c = cyc if cyc is not None else model
            layers.setdefault(op.layer, {})
            layers[op.layer][op.phase] = layers[op.layer].get(op.phase, 0) + c
            total += c
            macs += op.macs
            ops.append({"layer": op.layer, "phase": op.phase, "op": Opcode(op.desc.opcode).name,
                        "cycles": c, "model_cycles": model})
        self.stats = {
            "backend": self.device,
            "config": self.cfg.name,
            "batch": cm.batch,
            "layers": layers,
            "cycles": total,
            "macs": macs,
            "seconds_at_clock": total / (self.cfg.clock_mhz * 1e6),
            "utilization": macs / (self.cfg.macs_per_cycle * total) if total else 0.0,
            "cycles_source": ("measured: RTL simulation, one program per descriptor (CYCLES counter)"
                              if measured else "analytical model (eftrain.perf.descriptor_cycles)"),
            "wall_seconds": seconds,
            "descriptors": len(cm.forward) + len(cm.backward),
            "ops": ops,          # every descriptor: layer, phase, opcode, cycles, the model's cycles
        }
