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
        ("odd", 32, (1, 6, 5, 7, 4, 2, 1, 1)),
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
    assert st["backend"] == "rtl" and st["cycles"] == st["formula_cycles"], st
    assert st["macs"] <= config_macs_per_cycle(rtl) * st["cycles"]

    dy = rng.standard_normal(y.shape).astype(F32)
    dx = rtl.conv2d_backward_input(dy, w, x.shape, s, p)
    assert bits_equal(dx, gold.conv2d_backward_input(dy, w, x.shape, s, p)), f"BP {msg}"
    dw = rtl.conv2d_backward_weight(x, dy, w.shape, s, p)
    assert bits_equal(dw, gold.conv2d_backward_weight(x, dy, w.shape, s, p)), f"WU {msg}"
    assert rtl.stats["op"] == "conv2d_backward_weight" and rtl.stats["cycles"] == rtl.stats["formula_cycles"]


def config_macs_per_cycle(dev: eftrain.Device) -> int:
    return dev.config.tm * dev.config.tn


def test_rtl_device_rejects_a_layer_that_does_not_fit():
    dev = eftrain.Device("rtl", "ci")
    x = np.zeros((1, 4, 80, 80), F32)  # 80*80 words per lane > the ci input buffer
    w = np.zeros((4, 4, 3, 3), F32)
    with pytest.raises(ValueError, match="does not fit"):
        dev.conv2d(x, w, None, 1, 1)


def test_rtl_device_validates_like_golden():
    dev = eftrain.Device("rtl", "ci")
    with pytest.raises(ValueError, match="x must be float32"):
        dev.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3), F32))
