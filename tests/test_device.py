"""eftrain.Device('golden'): the SPEC section 6 interface, its bits and its argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import eftrain
from eftrain.golden import engine, reference, tolerance

F32 = np.float32


def test_device_is_the_engine_and_close_to_autograd():
    dev = eftrain.Device("golden")
    assert dev.config.name == "zcu102"
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((3, 19, 13, 11)).astype(F32)
    w = rng.standard_normal((21, 19, 3, 3)).astype(F32)
    b = rng.standard_normal(21).astype(F32)
    y = dev.conv2d(x, w, b, stride=2, padding=1)
    assert y.dtype == F32 and y.shape == (3, 21, 7, 6)
    assert np.array_equal(y.view(np.uint32), engine.conv_fp(x, w, b, 2, 1, "zcu102").view(np.uint32))
    y64 = reference.conv2d_fp(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1)
    ya = reference.conv2d_fp(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                             np.abs(b).astype(np.float64), 2, 1)
    assert np.all(np.abs(y - y64) <= tolerance.error_bound(ya, tolerance.fp_ops(dev.config, 19, 3, True)))
    st = dev.stats
    assert st["op"] == "conv2d" and st["macs"] == 3 * 21 * 19 * 9 * 7 * 6
    assert st["cycles"] >= st["macs"] / (dev.config.tm * dev.config.tn)
    assert 0 < st["utilization"] <= 1

    dy = rng.standard_normal(y.shape).astype(F32)
    dx = dev.conv2d_backward_input(dy, w, x.shape, stride=2, padding=1)
    assert np.array_equal(dx.view(np.uint32), engine.conv_bp(dy, w, x.shape, 2, 1, "zcu102").view(np.uint32))
    assert dev.stats["op"] == "conv2d_backward_input"
    dw = dev.conv2d_backward_weight(x, dy, w.shape, stride=2, padding=1)
    assert np.array_equal(dw.view(np.uint32), engine.conv_wu(x, dy, w.shape, 2, 1, "zcu102").view(np.uint32))
    assert dev.stats["op"] == "conv2d_backward_weight" and dev.stats["macs"] == st["macs"]


def test_device_config_changes_bits_only_through_tn():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 40, 6, 6)).astype(F32) * 2.0 ** rng.integers(-8, 8, (1, 40, 6, 6)).astype(F32)
    w = rng.standard_normal((2, 40, 3, 3)).astype(F32)
    y16 = eftrain.Device("golden", "zcu102").conv2d(x, w)
    y4 = eftrain.Device("golden", "ci").conv2d(x, w)
    assert not np.array_equal(y16, y4)  # another tree width is another order
    y16b = eftrain.Device("golden", eftrain.preset("zcu102").with_(tm=4)).conv2d(x, w)
    assert np.array_equal(y16.view(np.uint32), y16b.view(np.uint32))  # Tm does not change bits


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d, x, w: d.conv2d(x.astype(np.float64), w), "x must be float32"),
        (lambda d, x, w: d.conv2d(x[0], w), "x must have rank 4"),
        (lambda d, x, w: d.conv2d(x, w[:, :1]), "w shape"),
        (lambda d, x, w: d.conv2d(x, w, bias=np.zeros(5, F32)), "bias"),
        (lambda d, x, w: d.conv2d(x, w, stride=1.0), "stride must be an int"),
        (lambda d, x, w: d.conv2d(x, w, padding=(1, 1)), "padding must be an int"),
        (lambda d, x, w: d.conv2d(x, w, stride=0), "stride"),
        (lambda d, x, w: d.conv2d(x, w, padding=9), "padding"),
        (lambda d, x, w: d.conv2d(x.tolist(), w), "x must be a numpy array"),
        (lambda d, x, w: d.conv2d_backward_input(np.zeros((2, 4, 5, 5), F32), w, (2, 3, 7)), "x_shape"),
        (lambda d, x, w: d.conv2d_backward_input(np.zeros((2, 4, 4, 5), F32), w, x.shape), "dy shape"),
        (lambda d, x, w: d.conv2d_backward_input(np.zeros((2, 4, 5, 5), np.float16), w, x.shape),
         "dy must be"),
        (lambda d, x, w: d.conv2d_backward_weight(x, np.zeros((2, 4, 5, 5), F32), (4, 3, 3)), "w_shape"),
        (lambda d, x, w: d.conv2d_backward_weight(x, np.zeros((2, 4, 5, 5), F32), (4, 2, 3, 3)), "w_shape"),
        (lambda d, x, w: d.conv2d_backward_weight(x, np.zeros((2, 5, 5, 5), F32), w.shape), "dy shape"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, match):
    dev = eftrain.Device("golden", "ci")
    x = np.zeros((2, 3, 7, 7), F32)
    w = np.zeros((4, 3, 3, 3), F32)
    with pytest.raises(ValueError, match=match):
        call(dev, x, w)


def test_unknown_backend_and_config():
    with pytest.raises(ValueError, match="backend"):
        eftrain.Device("gpu")
    with pytest.raises(ValueError, match="not available yet"):
        eftrain.Device("board")
    with pytest.raises(ValueError, match="unknown preset"):
        eftrain.Device("golden", "zcu104")
