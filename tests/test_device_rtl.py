"""eftrain.Device('rtl'): the Verilated engine gives the golden model's bits through the Device API."""

from __future__ import annotations

import numpy as np
import pytest

import eftrain
from eftrain.golden.tolerance import bits_equal

F32 = np.float32


@pytest.mark.parametrize(
    ("config", "seed", "shape"),
    [
        # (B, N, H, W, M, K, S, P): odd sizes, channels not multiples of Tn/Tm, bias, stride, padding
        ("ci", 31, (2, 7, 9, 6, 5, 3, 2, 2)),
        ("ci", 32, (1, 6, 5, 7, 4, 2, 1, 1)),
    ],
)
def test_rtl_device_equals_golden(config, seed, shape):
    b, n, h, w_, m, k, s, p = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, n, h, w_)).astype(F32)
    w = rng.standard_normal((m, n, k, k)).astype(F32)
    bias = rng.standard_normal(m).astype(F32)
    rtl, gold = eftrain.Device("rtl", config), eftrain.Device("golden", config)
    msg = f"seed={seed} config={config} shape={shape}"

    y = rtl.conv2d(x, w, bias, s, p)
    assert bits_equal(y, gold.conv2d(x, w, bias, s, p)), f"FP {msg}"
    st = rtl.stats
    assert st["backend"] == "rtl" and st["cycles"] == st["counters"]["CYCLES"] > 0, st
    assert st["macs"] <= config_macs_per_cycle(rtl) * st["counters"]["MAC_CYCLES"] <= (
        config_macs_per_cycle(rtl) * st["cycles"])
    assert st["predicted_cycles"] > 0 and st["dram_bytes"] > 0

    dy = rng.standard_normal(y.shape).astype(F32)
    dx = rtl.conv2d_backward_input(dy, w, x.shape, s, p)
    assert bits_equal(dx, gold.conv2d_backward_input(dy, w, x.shape, s, p)), f"BP {msg}"
    dw = rtl.conv2d_backward_weight(x, dy, w.shape, s, p)
    assert bits_equal(dw, gold.conv2d_backward_weight(x, dy, w.shape, s, p)), f"WU {msg}"
    st = rtl.stats
    assert st["op"] == "conv2d_backward_weight" and st["cycles"] == st["counters"]["CYCLES"]


def config_macs_per_cycle(dev: eftrain.Device) -> int:
    return dev.config.tm * dev.config.tn


def test_rtl_device_runs_a_layer_larger_than_the_buffers():
    """80 x 80 pixels per lane exceed the ci input buffer: row tiles through DRAM."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 80, 80)).astype(F32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(F32)
    dev = eftrain.Device("rtl", "ci")
    y = dev.conv2d(x, w, None, 1, 1)
    assert bits_equal(y, eftrain.Device("golden", "ci").conv2d(x, w, None, 1, 1))
    assert dev.stats["tiling"]["tr"] < 80


def test_rtl_device_rejects_a_config_the_top_level_cannot_build():
    dev = eftrain.Device("rtl", "odd")
    x = np.zeros((1, 4, 8, 8), F32)
    w = np.zeros((4, 4, 3, 3), F32)
    with pytest.raises(ValueError, match="Tm == Tn"):
        dev.conv2d(x, w, None, 1, 1)


def test_rtl_device_validates_like_golden():
    dev = eftrain.Device("rtl", "ci")
    with pytest.raises(ValueError, match="x must be float32"):
        dev.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3), F32))
