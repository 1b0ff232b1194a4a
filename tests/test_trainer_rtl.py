"""One training iteration on the RTL (eftrain.torch.Trainer, device="rtl") leaves exactly the
golden machine's parameter bits: the whole iteration (FP of every layer, the host's loss, BP, WU
and SGD) runs as descriptor programs on rtl/eftrain_top.sv (Verilator, fast mode)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from eftrain.torch import Trainer


def _bits(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: (v.numpy().view(np.uint32) if v.is_floating_point() else v.numpy()).copy()
            for k, v in model.state_dict().items()}


@pytest.mark.parametrize("seed", [0])
def test_one_rtl_step_equals_golden_bit_for_bit(seed: int) -> None:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(5, 6, 3, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 4),
    )
    g_model, r_model = copy.deepcopy(model), copy.deepcopy(model)
    kw = dict(lr=0.05, momentum=0.9, weight_decay=1e-3, config="ci")
    g, r = Trainer(g_model, "golden", **kw), Trainer(r_model, "rtl", **kw)
    rng = np.random.default_rng(seed)
    for _ in range(2):  # the second step also checks the momentum buffers left in DRAM
        x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
        y = rng.integers(0, 4, 3)
        assert g.step(x, y) == r.step(x, y)
        gb, rb = _bits(g_model), _bits(r_model)
        for k in gb:
            assert np.array_equal(gb[k], rb[k]), f"{k}: RTL and golden differ"
    st = r.stats
    assert st["backend"] == "rtl" and st["cycles_source"].startswith("measured")
    assert set(st["layers"]["1"]) == {"fp", "bp", "sgd"} and st["layers"]["0"]["wu"] > 0
    assert not np.array_equal(_bits(model)["0.weight"], gb["0.weight"])  # it did train
