"""On-device adaptation demo (``make train``, ``eftrain train``): the paper's use case on real data.

The scenario: a small CNN is trained once on the host ("in the factory") on handwritten digits,
then deployed. Its new user writes differently; the deployed model keeps training *on the
accelerator* on a few of that user's labelled samples and becomes accurate for them, while the
demo also reports how much it forgets of the original domain.

Data (real, shipped with scikit-learn, no download): ``sklearn.datasets.load_digits``, the 1,797
8x8 digits of the UCI optical-recognition set. The images are split once (seeded, stratified)
into disjoint parts: the base training set (50 %), an old-domain test set (20 %) and a pool for
the new user (30 %). The data set has no writer labels, so the new user is built from the pool's
real images by a fixed transformation that imitates a different hand: strokes slanted to the
right (a horizontal shear of 0.6 pixel per row, bilinear resampling) and bold (each stroke
thickened one pixel to the right). From that pool, ``adapt_per_class`` images per class are the
user's labelled samples for on-device training; all the others are the user's test set.

Reported: accuracy on the new user's test set before and after adaptation, on the old-domain test
set before and after (forgetting), the loss of every device step (and the base training's loss)
as a PNG, and the accelerator's time per training iteration per layer and phase at the board's
clock (the analytical model; ``--measure-rtl`` also runs one iteration on the RTL simulation and
prints measured cycles next to the model, and checks its parameter bits against the golden
machine's).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eftrain.config import HwConfig, preset

__all__ = ["AdaptResult", "digits_domains", "digits_model", "format_report", "run"]

F32 = np.float32


@dataclass
class Domains:
    """The demo's data: every array float32 ``[N, 1, 8, 8]`` in [0, 1] with int64 labels."""

    base_x: np.ndarray
    base_y: np.ndarray
    old_test_x: np.ndarray
    old_test_y: np.ndarray
    adapt_x: np.ndarray
    adapt_y: np.ndarray
    new_test_x: np.ndarray
    new_test_y: np.ndarray


def new_writer(images: np.ndarray, shear: float = 0.6) -> np.ndarray:
    """The new user's hand: ``images`` ``[N, 8, 8]`` slanted right (shear) and bold (thickened)."""
    _, h, w = images.shape
    out = np.zeros_like(images)
    cols = np.arange(w, dtype=np.float64)
    for r in range(h):
        src = cols - shear * ((h - 1) / 2 - r)   # top rows move right, bottom rows left
        lo = np.floor(src).astype(int)
        frac = src - lo
        for j in range(w):
            for off, wt in ((lo[j], 1 - frac[j]), (lo[j] + 1, frac[j])):
                if 0 <= off < w and wt > 0:
                    out[:, r, j] += wt * images[:, r, off]
    bold = out.copy()
    bold[:, :, 1:] = np.maximum(bold[:, :, 1:], out[:, :, :-1])
    return np.clip(bold, 0.0, 1.0).astype(F32)


def digits_domains(seed: int = 0, adapt_per_class: int = 20) -> Domains:
    """Split the digits into the base, old-test and new-user sets (module documentation)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(F32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"base": [], "old": [], "pool": []}
    for cls in range(10):
        idx = rng.permutation(np.flatnonzero(y == cls))
        a, b = int(0.5 * idx.size), int(0.7 * idx.size)
        parts["base"] += idx[:a].tolist()
        parts["old"] += idx[a:b].tolist()
        parts["pool"] += idx[b:].tolist()
    pool = np.array(parts["pool"])
    nx, ny = new_writer(x[pool]), y[pool]
    adapt = np.concatenate([rng.permutation(np.flatnonzero(ny == c))[:adapt_per_class] for c in range(10)])
    test = np.setdiff1d(np.arange(pool.size), adapt)
    adapt = rng.permutation(adapt)

    def img(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[:, None, :, :], dtype=F32)

    base, old = np.array(parts["base"]), np.array(parts["old"])
    return Domains(img(x[base]), y[base], img(x[old]), y[old], img(nx[adapt]), ny[adapt], img(nx[test]),
                   ny[test])


def digits_model(seed: int = 0) -> Any:
    """The demo's CNN: conv-BN-ReLU-maxpool twice, global average pooling, a linear classifier."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def train_base(model: Any, dom: Domains, epochs: int, batch: int, seed: int, progress: bool) -> list[float]:
    """The factory training on the host (torch, float32)."""
    import torch
    from torch import nn

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(seed + 1)
    losses = []
    steps = range(epochs)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="base training (host, torch)", unit="epoch")
    for _ in steps:
        model.train()
        order = rng.permutation(dom.base_x.shape[0])
        for i in range(0, order.size - batch + 1, batch):
            j = order[i:i + batch]
            opt.zero_grad()
            out = model(torch.from_numpy(dom.base_x[j]))
            loss = nn.functional.cross_entropy(out, torch.from_numpy(dom.base_y[j]))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
    return losses


@dataclass
class AdaptResult:
    config: str
    backend: str
    acc_new_before: float
    acc_new_after: float
    acc_old_before: float
    acc_old_after: float
    base_losses: list[float]
    device_losses: list[float]
    stats: dict[str, Any]
    wall_seconds: float
    layer_types: dict[str, str] = field(default_factory=dict)
    rtl: dict[str, Any] | None = None
    png: str | None = None


def run(config: HwConfig | str = "zcu102", backend: str = "golden", *, epochs: int = 8, base_epochs: int = 15,
        batch: int = 16, adapt_per_class: int = 20, lr: float = 0.02, momentum: float = 0.9,
        weight_decay: float = 5e-4, seed: int = 0, png: str | Path | None = None, progress: bool = True,
        measure_rtl: bool = False) -> AdaptResult:
    """The whole demo (module documentation); returns the figures :func:`format_report` prints."""
    from eftrain.torch import Trainer

    cfg = preset(config)
    t0 = time.perf_counter()
    dom = digits_domains(seed, adapt_per_class)
    model = digits_model(seed)
    base_losses = train_base(model, dom, base_epochs, 32, seed, progress)
    acc_new_before = accuracy(model, dom.new_test_x, dom.new_test_y)
    acc_old_before = accuracy(model, dom.old_test_x, dom.old_test_y)
    deployed = copy.deepcopy(model)
    trainer = Trainer(model, backend, lr=lr, momentum=momentum, weight_decay=weight_decay, config=cfg)
    rng = np.random.default_rng(seed + 2)
    n = dom.adapt_x.shape[0]
    steps_per_epoch = n // batch
    it: Any = range(epochs * steps_per_epoch)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"on-device adaptation ({backend}, {cfg.name})", unit="step")
    device_losses = []
    order = rng.permutation(n)
    for s in it:
        e, i = divmod(s, steps_per_epoch)
        if i == 0:
            order = rng.permutation(n)
        j = order[i * batch:(i + 1) * batch]
        device_losses.append(trainer.step(dom.adapt_x[j], dom.adapt_y[j]))
        if progress:
            it.set_postfix(loss=f"{device_losses[-1]:.3f}", epoch=e + 1)
    stats = trainer.stats
    res = AdaptResult(cfg.name, backend, acc_new_before, accuracy(model, dom.new_test_x, dom.new_test_y),
                      acc_old_before, accuracy(model, dom.old_test_x, dom.old_test_y), base_losses,
                      device_losses, stats, time.perf_counter() - t0,
                      {name: type(mod).__name__ for name, mod in model.named_children()})
    if measure_rtl:
        res.rtl = _measure_rtl(deployed, dom, cfg, batch, lr, momentum, weight_decay)
    if png is not None:
        res.png = str(plot(res, png))
    return res


def _measure_rtl(model: Any, dom: Domains, cfg: HwConfig, batch: int, lr: float, momentum: float,
                 weight_decay: float) -> dict[str, Any]:
    """One iteration on the RTL and on the golden machine from the same state: cycles and bits."""
    from eftrain.torch import Trainer

    x, y = dom.adapt_x[:batch], dom.adapt_y[:batch]
    gm, rm = copy.deepcopy(model), copy.deepcopy(model)
    g = Trainer(gm, "golden", lr=lr, momentum=momentum, weight_decay=weight_decay, config=cfg)
    r = Trainer(rm, "rtl", lr=lr, momentum=momentum, weight_decay=weight_decay, config=cfg)
    lg, lr_ = g.step(x, y), r.step(x, y)
    gs, rs = gm.state_dict(), rm.state_dict()
    def bits(t: Any) -> np.ndarray:
        return t.numpy().view(np.uint32) if t.is_floating_point() else t.numpy()

    same = all(np.array_equal(bits(gs[k]), bits(rs[k])) for k in gs)
    return {"bits_equal": same and lg == lr_, "measured": r.stats, "model": g.stats}


def plot(res: AdaptResult, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    ax[0].plot(res.base_losses, lw=0.8, color="tab:gray")
    ax[0].set_title("base training on the host (torch)")
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("cross-entropy loss")
    ax[1].plot(res.device_losses, lw=1.2, color="tab:blue", marker=".", ms=3)
    ax[1].set_title(f"on-device adaptation ({res.backend}, {res.config}): new user "
                    f"{100 * res.acc_new_before:.0f}% -> {100 * res.acc_new_after:.0f}%")
    ax[1].set_xlabel("device step")
    fig.tight_layout()
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def format_report(res: AdaptResult) -> str:
    cfg = preset(res.config)
    st = res.stats

    def pct(v: float) -> str:
        return f"{100 * v:>7.1f}%"

    lines = [
        f"on-device adaptation: {res.backend} backend, {res.config} preset ({cfg.tm}x{cfg.tn} array, "
        f"{cfg.clock_mhz:g} MHz)",
        "",
        f"{'accuracy':<34} {'before':>8} {'after':>8}",
        f"{'new user (slanted, bold writer)':<34} {pct(res.acc_new_before)} {pct(res.acc_new_after)}",
        f"{'old domain (forgetting)':<34} {pct(res.acc_old_before)} {pct(res.acc_old_after)}",
        "",
        f"device steps: {len(res.device_losses)} (batch {st.get('batch')}), loss "
        f"{res.device_losses[0]:.3f} -> {np.mean(res.device_losses[-5:]):.3f} (mean of the last 5)",
        "",
        f"time per training iteration at {cfg.clock_mhz:g} MHz ({st['cycles_source']}):",
        f"{'layer':<8} {'type':<18} {'fp us':>9} {'bp us':>9} {'wu us':>9} {'sgd us':>9}",
    ]
    us = 1.0 / cfg.clock_mhz
    for name, ph in st["layers"].items():
        if not ph:
            continue
        cells = " ".join(f"{ph.get(k, 0) * us:>9.2f}" for k in ("fp", "bp", "wu", "sgd"))
        lines.append(f"{name:<8} {res.layer_types.get(name, ''):<18} {cells}")
    lines.append(f"{'total':<27} {st['cycles']:,} cycles = {st['seconds_at_clock'] * 1e6:.1f} us per "
                 f"iteration, array utilization {100 * st['utilization']:.1f}%")
    if res.rtl is not None:
        meas, mod = res.rtl["measured"], res.rtl["model"]
        lines += ["", "one iteration on the RTL (measured cycles, CYCLES counter per descriptor) "
                  "vs the model:",
                  f"{'layer':<8} {'phase':<5} {'measured':>10} {'model':>10}"]
        for name, ph in meas["layers"].items():
            for k, v in ph.items():
                lines.append(f"{name:<8} {k:<5} {v:>10,} {mod['layers'][name].get(k, 0):>10,}")
        lines.append(f"parameter bits after the step: {'EQUAL' if res.rtl['bits_equal'] else 'DIFFERENT'} "
                     "(RTL vs golden)")
    if res.png:
        lines.append(f"\nloss curves: {res.png}")
    lines.append(f"wall time {res.wall_seconds:.1f} s")
    return "\n".join(lines)
