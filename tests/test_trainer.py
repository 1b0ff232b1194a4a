"""Training a PyTorch model on the accelerator (eftrain.compiler, eftrain.torch.Trainer).

Tolerance against torch (stated in docs/training.md): the golden backend and torch's own float32
training are two float32 implementations of the same iteration that sum in different orders. Over
a run, each drifts away from the exact trajectory (torch in float64 on the same data); the test
requires the golden machine's parameters to stay within 4x torch-float32's own distance from the
float64 trajectory (plus a floor of 64 ulps of the parameter's scale for runs where torch float32
happens to land almost exactly on the float64 values). One step is checked tighter: every
parameter within 2^-16 relative of torch float32 (a few dozen roundings on every path).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from eftrain.compiler import compile_model, module_chain
from eftrain.descriptors import Flag
from eftrain.torch import Trainer

U = 2.0**-24


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
    )


def torch_step(model: nn.Module, opt: torch.optim.Optimizer, x: np.ndarray, y: np.ndarray, dtype) -> float:
    model.train()
    opt.zero_grad()
    out = model(torch.from_numpy(x).to(dtype))
    loss = nn.functional.cross_entropy(out, torch.from_numpy(y))
    loss.backward()
    opt.step()
    return float(loss.item())


def params(model: nn.Module) -> dict[str, np.ndarray]:
    state = model.state_dict().items()
    return {k: v.detach().double().numpy().copy() for k, v in state if v.is_floating_point()}


def test_chain_of_a_custom_module_is_traced():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            x = torch.relu(self.c(x))
            x = x.mean((2, 3))  # a reduction the compiler does not know
            return self.fc(x)

    with pytest.raises(ValueError, match="unsupported operation"):
        module_chain(Net())

    class Net2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.p = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.p(torch.relu(self.c(x))), 1))

    assert [n for n, _ in module_chain(Net2())] == ["c", "relu", "p", "flatten", "fc"]


@pytest.mark.parametrize(
    "model,match",
    [
        (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.Flatten(), nn.Linear(2, 2)), "dilation"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1), nn.Sigmoid()), "Sigmoid"),
        (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.Flatten(), nn.Linear(4, 2)), "ceil_mode"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, affine=False), nn.Flatten(), nn.Linear(8, 2)),
         "affine"),
        (nn.Sequential(nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)), "ReLU must follow"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(9, 2)), "in_features"),
        (nn.Sequential(nn.Conv2d(1, 2, 9, padding=4)), "kernel 9"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2)), "AdaptiveAvgPool2d\\(1\\)"),
    ],
)
def test_unsupported_models_name_the_module(model, match):
    with pytest.raises(ValueError, match=match):
        compile_model(model, (2, 1, 4, 4), "ci", tiling="default")


def test_bad_step_arguments():
    tr = Trainer(small_cnn(), "golden", tiling="default")
    x = np.zeros((2, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="x: expected float32"):
        tr.step(x.astype(np.float64), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="y: expected 2 integer labels"):
        tr.step(x, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="labels must be in"):
        tr.step(x, np.array([0, 10]))
    with pytest.raises(ValueError, match="device"):
        Trainer(small_cnn(), "gpu")


def test_one_step_matches_torch_and_updates_the_model_in_place():
    model = small_cnn(1)
    ref = copy.deepcopy(model)
    tr = Trainer(model, "golden", lr=0.1, momentum=0.9, weight_decay=1e-3, tiling="default")
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    before = params(model)
    loss = tr.step(x, y)
    ref_loss = torch_step(ref, opt, x, y, torch.float32)
    assert abs(loss - ref_loss) <= 64 * U * abs(ref_loss)
    got, exp = params(model), params(ref)
    for k in exp:
        scale = np.abs(exp[k]).max() + 1e-30
        assert np.abs(got[k] - exp[k]).max() <= 2.0**-16 * scale, k
        if k.endswith(("weight", "bias")):
            assert not np.array_equal(got[k], before[k]), f"{k} was not updated"
    assert int(model.state_dict()["1.num_batches_tracked"]) == 1
    st = tr.stats
    assert st["backend"] == "golden" and st["cycles"] == sum(sum(p.values()) for p in st["layers"].values())
    assert set(st["layers"]["0"]) == {"fp", "wu"}   # no BP (first layer), the weights' SGD fused into WU
    assert set(st["layers"]["4"]) == {"fp", "bp", "wu", "sgd"}   # the bias' SGD is its own op


def test_fused_sgd_leaves_the_same_bits_as_wu_then_sgd():
    """Flag.SGD on WU (the default) against WU + a separate SGD descriptor: every parameter and
    running statistic bit for bit after two steps with momentum and weight decay."""
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((4, 1, 8, 8)).astype(np.float32) for _ in range(2)]
    ys = [rng.integers(0, 10, 4) for _ in range(2)]
    states = []
    for fuse in (True, False):
        model = small_cnn(5)
        tr = Trainer(model, "golden", lr=0.1, momentum=0.9, weight_decay=1e-3, tiling="default",
                     fuse_sgd=fuse)
        for x, y in zip(xs, ys, strict=True):
            tr.step(x, y)
        ops = [op.desc for op in tr.compiled.backward]
        assert any(d.flags & Flag.SGD for d in ops) == fuse
        states.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    for k in states[0]:
        assert states[0][k].tobytes() == states[1][k].tobytes(), k


def test_golden_tracks_torch_over_many_steps():
    """50 steps of SGD with momentum: the stated tolerance (module documentation)."""
    model = small_cnn(3)
    t32 = copy.deepcopy(model)
    t64 = copy.deepcopy(model).double()
    tr = Trainer(model, "golden", lr=0.05, momentum=0.9, weight_decay=5e-4, tiling="default")
    o32 = torch.optim.SGD(t32.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    o64 = torch.optim.SGD(t64.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(4)
    # a learnable task: the label is the quadrant holding the brightest pixel
    losses = []
    for _ in range(50):
        x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
        flat = x.reshape(8, -1).argmax(1)
        y = ((flat // 8) // 4 * 2 + (flat % 8) // 4).astype(np.int64)
        losses.append(tr.step(x, y))
        torch_step(t32, o32, x, y, torch.float32)
        torch_step(t64, o64, x, y, torch.float64)
    g, a, e = params(model), params(t32), params(t64)
    for k in e:
        floor = 64 * U * (np.abs(e[k]).max() + 1e-30)
        assert np.abs(g[k] - e[k]).max() <= 4 * np.abs(a[k] - e[k]).max() + floor, k
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # and it learns
