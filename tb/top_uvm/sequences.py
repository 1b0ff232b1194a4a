"""Sequences of :class:`~tb.top_uvm.items.ProgramItem` for the layer-level environment.

Every sequence draws from the test's ``random.Random`` (seeded from ``TOP_UVM_SEED``, so a run
is reproducible) and sends program items to the driver:

:class:`ItemsSeq`
    the given program items, in order (directed tests).
:class:`MixedProgramSeq`
    random legal programs of ``1..max_layers`` layers of mixed phases, the shape classes chosen
    coverage-first (every phase x class bin once, in random order, then at random), each program
    under a random DRAM latency and random pauses on every AXI channel; some legal layers carry an
    unused ``src2`` full of garbage (the hardware must ignore it).
:class:`RepeatSeq`
    one random program sent twice with different latency and pauses (same ``repeat_tag``: the
    scoreboard requires identical DRAM afterwards).
:class:`IllegalFuzzSeq`
    random mutations of legal descriptors (every mutation kind in turn, then at random), redrawn
    until :func:`eftrain.descriptors.validate` rejects them; a few programs put legal layers before
    (they must complete bit-exact) and after (never run) the illegal descriptor.
:class:`ProgramLevelSeq`
    program-level cases: ``PROG_COUNT = 0``, misaligned program base, program below / past / far
    outside the window, a count whose program does not fit.
:class:`SoftResetSeq`
    a program run clean (its run time measured), then again with CTRL.SOFT_RESET at a random
    point of it (early in the first fetch, mid-program, late), then the next clean program.
:class:`FaultSeq`
    programs with a DRAM fault region (SLVERR or DECERR) on an input tensor, the output tensor or
    the program itself of one layer, each followed by a clean program.
"""

from __future__ import annotations

import random

from pyuvm import uvm_sequence

from eftrain.config import HwConfig
from eftrain.descriptors import ErrCode
from tb.top_uvm.items import (
    COVER_BINS,
    MUTATIONS,
    PHASES,
    PROG_MUTATIONS,
    SHAPE_CLASSES,
    LayerItem,
    Mutation,
    ProgramItem,
    random_layer,
    random_mutation,
)

__all__ = ["FaultSeq", "IllegalFuzzSeq", "ItemsSeq", "MixedProgramSeq", "ProgramLevelSeq", "RepeatSeq",
           "SoftResetSeq", "random_knobs", "random_program"]

LATENCIES = (1, 2, 5, 12, 20, 40, 80)
PAUSE_LEVELS = (0.0, 0.1, 0.2, 0.35, 0.5)


def random_knobs(rng: random.Random, item: ProgramItem, stress: bool = True) -> None:
    """Random DRAM latency and AXI pauses (none without ``stress``)."""
    item.latency = rng.choice(LATENCIES) if stress else 20
    item.pause_level = rng.choice(PAUSE_LEVELS) if stress else 0.0
    item.pause_seed = rng.getrandbits(32)


def random_program(rng: random.Random, cfg: HwConfig, name: str, n_layers: int, *,
                   bins: list[tuple[str, str]] | None = None, max_macs: int = 24_000,
                   max_dim: int = 10, garbage: float = 0.15) -> ProgramItem:
    """A legal program of ``n_layers`` layers (classes from ``bins`` first, then random)."""
    item = ProgramItem(name)
    for _ in range(n_layers):
        if bins:
            phase, cls = bins.pop()
        else:
            phase = rng.choice(PHASES)
            cls = rng.choice([c for c in SHAPE_CLASSES if c != "bias" or phase == "fp"])
        li = random_layer(rng, cfg, phase, cls, max_macs=max_macs, max_dim=max_dim)
        if rng.random() < garbage:
            li.mutation = Mutation("src2_garbage", rng.getrandbits(32))
        item.layers.append(li)
    random_knobs(rng, item)
    return item


class _Seq(uvm_sequence):
    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int]) -> None:
        super().__init__(name)
        self.cfg = cfg
        self.rng = rng
        self.window = window
        self.items: list[ProgramItem] = []

    async def send(self, item: ProgramItem) -> ProgramItem:
        await self.start_item(item)
        await self.finish_item(item)
        self.items.append(item)
        return item


class ItemsSeq(_Seq):
    """The given program items, in order."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int],
                 items: list[ProgramItem]) -> None:
        super().__init__(name, cfg, rng, window)
        self.todo = items

    async def body(self) -> None:
        for item in self.todo:
            await self.send(item)


class MixedProgramSeq(_Seq):
    """Random legal programs over every phase x shape-class bin (see the module documentation)."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 programs: int = 8, max_layers: int = 4, max_macs: int = 24_000,
                 max_dim: int = 10) -> None:
        super().__init__(name, cfg, rng, window)
        self.programs = programs
        self.max_layers = max_layers
        self.max_macs = max_macs
        self.max_dim = max_dim

    async def body(self) -> None:
        bins = list(COVER_BINS)
        self.rng.shuffle(bins)
        per = -(-len(bins) // self.programs)
        for i in range(self.programs):
            n = min(self.max_layers, max(1, per if bins else self.rng.randint(1, self.max_layers)))
            await self.send(random_program(self.rng, self.cfg, f"mixed{i}", n, bins=bins,
                                           max_macs=self.max_macs, max_dim=self.max_dim))


class RepeatSeq(_Seq):
    """The same program twice under different latency / pauses."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 layers: int = 3) -> None:
        super().__init__(name, cfg, rng, window)
        self.layers = layers

    async def body(self) -> None:
        first = random_program(self.rng, self.cfg, "repeat_a", self.layers, max_macs=12_000)
        first.repeat_tag = "repeat"
        first.latency, first.pause_level = 1, 0.0
        second = first.clone_program("repeat_b")
        second.latency, second.pause_level, second.pause_seed = 60, 0.5, self.rng.getrandbits(32)
        await self.send(first)
        await self.send(second)


class IllegalFuzzSeq(_Seq):
    """Mutated descriptors that validate() rejects (see the module documentation)."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 count: int = 240, with_legal: float = 0.06) -> None:
        super().__init__(name, cfg, rng, window)
        self.count = count
        self.with_legal = with_legal
        self.codes: dict[str, int] = {}

    def _small(self, phase: str | None = None, max_macs: int = 2_000) -> LayerItem:
        phase = phase or self.rng.choice(PHASES)
        cls = self.rng.choice([c for c in SHAPE_CLASSES if c != "bias" or phase == "fp"])
        return random_layer(self.rng, self.cfg, phase, cls, max_macs=max_macs, dse=0.0)

    def draw(self, i: int) -> ProgramItem:
        kinds = list(MUTATIONS)
        kind = kinds[i % len(kinds)] if i < 3 * len(kinds) else None
        prefix = suffix = 0
        if self.rng.random() < self.with_legal:
            prefix = self.rng.randint(1, 2)
            suffix = self.rng.randint(0, 1)
        for _ in range(50):
            item = ProgramItem(f"fuzz{i}")
            item.layers = [self._small(max_macs=600) for _ in range(prefix)]
            bad = self._small()
            bad.mutation = random_mutation(self.rng, kind)
            item.layers.append(bad)
            item.layers += [self._small(max_macs=600) for _ in range(suffix)]
            random_knobs(self.rng, item)
            stim = item.stimulus(self.cfg, self.window)
            if stim.expect.code != ErrCode.NONE and stim.expect.index == prefix:
                self.codes[stim.expect.code.name] = self.codes.get(stim.expect.code.name, 0) + 1
                return item
        raise RuntimeError(f"no illegal mutation of kind {kind} found")

    async def body(self) -> None:
        for i in range(self.count):
            await self.send(self.draw(i))


class ProgramLevelSeq(_Seq):
    """Program base / count cases, each ``repeat`` times with other seeds."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 repeat: int = 2) -> None:
        super().__init__(name, cfg, rng, window)
        self.repeat = repeat

    async def body(self) -> None:
        for r in range(self.repeat):
            for pm in PROG_MUTATIONS:
                item = ProgramItem(f"{pm}{r}")
                item.layers = [random_layer(self.rng, self.cfg, self.rng.choice(PHASES), "folded",
                                            max_macs=500) for _ in range(self.rng.randint(1, 3))]
                item.prog_mutation = pm
                item.prog_seed = self.rng.getrandbits(32)
                random_knobs(self.rng, item)
                await self.send(item)


class SoftResetSeq(_Seq):
    """Soft resets at random points of running programs, each recovered by a clean program."""

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 resets: int = 4) -> None:
        super().__init__(name, cfg, rng, window)
        self.resets = resets
        self.points: list[tuple[int, int]] = []       # (reset cycle, clean run cycles)

    async def body(self) -> None:
        where = ["early", "mid", "late", "mid"]
        for i in range(self.resets):
            clean = random_program(self.rng, self.cfg, f"clean{i}", self.rng.randint(2, 3),
                                   max_macs=10_000, garbage=0.0)
            await self.send(clean)
            cycles = clean.run_cycles
            kind = where[i % len(where)]
            at = {"early": self.rng.randint(1, 30),
                  "mid": self.rng.randint(cycles // 4, cycles // 2),
                  "late": self.rng.randint(cycles // 2, 3 * cycles // 4)}[kind]
            aborted = clean.clone_program(f"reset{i}_{kind}")
            aborted.soft_reset_at = at
            await self.send(aborted)
            self.points.append((at, cycles))
        await self.send(random_program(self.rng, self.cfg, "after_resets", 2, max_macs=10_000,
                                       garbage=0.0))


class FaultSeq(_Seq):
    """AXI error responses on a tensor or the program of one layer, then a clean program."""

    # (tensor of the faulted layer, response); "in0"/"in1" are the phase's two inputs.
    CASES = (("in0", 2), ("out", 3), ("in1", 3), ("out", 2), ("program", 2), ("program", 3))

    def __init__(self, name: str, cfg: HwConfig, rng: random.Random, window: tuple[int, int], *,
                 rounds: int = 1) -> None:
        super().__init__(name, cfg, rng, window)
        self.rounds = rounds

    async def body(self) -> None:
        inputs = {"fp": ("x", "w"), "bp": ("dy", "w"), "wu": ("x", "dy")}
        outputs = {"fp": "y", "bp": "dx", "wu": "dw"}
        for i, (what, resp) in enumerate(self.CASES * self.rounds):
            item = random_program(self.rng, self.cfg, f"fault{i}_{what}_{resp}", self.rng.randint(2, 3),
                                  max_macs=6_000, garbage=0.0)
            j = self.rng.randrange(len(item.layers))
            ph = item.layers[j].phase
            tensor = {"in0": inputs[ph][0], "in1": inputs[ph][1], "out": outputs[ph],
                      "program": "program"}[what]
            item.faults = [(j, tensor, resp)]
            await self.send(item)
            await self.send(random_program(self.rng, self.cfg, f"after_fault{i}", 1, max_macs=6_000))
