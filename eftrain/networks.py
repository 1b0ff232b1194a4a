"""Convolution layer descriptions and the benchmark networks of the analytical model.

A :class:`ConvLayer` is one convolution the engine runs in FP, BP and WU. Fully connected
layers are written as a 1 x 1 convolution on a 1 x 1 map (``n`` input features, ``m`` output
features), which is how the engine executes them. Pooling, ReLU and the loss are not
convolutions and are not listed: the model counts the convolution engine's work only.

Networks (``get_network(name)``):

``vgg16``
    The 13 convolution layers of VGG-16 at 224 x 224 (K = 3, stride 1, padding 1), as the
    EF-Train paper evaluates its performance model. The three FC layers are left out.
``cifar_vgg``
    A VGG-11-width network for CIFAR-10 (3 x 32 x 32): eight 3 x 3 convolutions with 2 x 2
    max-pools after convolutions 1, 2, 4, 6 and 8, then one FC layer 512 -> 10.
``lenet``
    LeNet-5 on MNIST (1 x 28 x 28): conv 5 x 5 (6, padding 2), pool, conv 5 x 5 (16),
    pool, FC 400 -> 120 -> 84 -> 10.

The first layer of every network has ``input_grad=False``: a training iteration never
needs the gradient with respect to the input image, so its BP is not part of an iteration
(the model still evaluates it on request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ConvLayer", "fc_layer", "get_network", "network_names"]


@dataclass(frozen=True)
class ConvLayer:
    """One convolution: ``y[B, m, oh, ow] = conv(x[B, n, h, w], w[m, n, k, k])``.

    Attributes:
        name: layer name (unique within a network).
        m: output channels.
        n: input channels.
        h: input rows.
        w: input columns.
        k: kernel size (square).
        s: stride.
        p: zero padding on every side.
        input_grad: whether a training iteration needs BP (the input gradient) of this layer;
            ``False`` for a network's first layer.
    """

    name: str
    m: int
    n: int
    h: int
    w: int
    k: int
    s: int = 1
    p: int = 0
    input_grad: bool = True

    def __post_init__(self) -> None:
        for field in ("m", "n", "h", "w", "k", "s"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConvLayer.{field} must be a positive integer, got {value!r}")
        if isinstance(self.p, bool) or not isinstance(self.p, int) or self.p < 0:
            raise ValueError(f"ConvLayer.p must be a non-negative integer, got {self.p!r}")
        if self.h + 2 * self.p < self.k or self.w + 2 * self.p < self.k:
            raise ValueError(
                f"ConvLayer {self.name!r}: kernel {self.k} larger than the padded input "
                f"{self.h + 2 * self.p} x {self.w + 2 * self.p}"
            )

    @property
    def oh(self) -> int:
        """Output rows."""
        return (self.h + 2 * self.p - self.k) // self.s + 1

    @property
    def ow(self) -> int:
        """Output columns."""
        return (self.w + 2 * self.p - self.k) // self.s + 1

    def macs(self, batch: int = 1) -> int:
        """Useful multiply-accumulates of one phase (FP, BP and WU all have this many)."""
        return self.m * self.n * self.k * self.k * self.oh * self.ow * batch

    def phase_macs(self, phase: str, batch: int = 1) -> int:
        """Useful multiply-accumulates of ``phase`` (``"fp"``, ``"bp"`` or ``"wu"``).

        FP and WU: :meth:`macs`. BP: the same, but never more than ``m*n*k*k*h*w*batch``,
        since each of the ``n*h*w`` input-gradient values sums at most ``m*k*k`` products; the
        transposed convolution's products that land in the padding (only when
        ``2p > k - 1``) are discarded, not useful work. The two counts agree for "same" and
        "valid" padding and for every stride > 1 layer of the usual kinds.
        """
        if phase not in ("fp", "bp", "wu"):
            raise ValueError(f"phase must be 'fp', 'bp' or 'wu', got {phase!r}")
        full = self.macs(batch)
        if phase == "bp":
            return min(full, self.m * self.n * self.k * self.k * self.h * self.w * batch)
        return full

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fc_layer(name: str, m: int, n: int, input_grad: bool = True) -> ConvLayer:
    """A fully connected layer ``n -> m`` as a 1 x 1 convolution on a 1 x 1 map."""
    return ConvLayer(name, m=m, n=n, h=1, w=1, k=1, s=1, p=0, input_grad=input_grad)


def _vgg16() -> list[ConvLayer]:
    spec = [  # (block, convs, channels, size)
        (1, 2, 64, 224),
        (2, 2, 128, 112),
        (3, 3, 256, 56),
        (4, 3, 512, 28),
        (5, 3, 512, 14),
    ]
    layers: list[ConvLayer] = []
    cin = 3
    for block, convs, cout, size in spec:
        for i in range(1, convs + 1):
            layers.append(ConvLayer(f"conv{block}_{i}", m=cout, n=cin, h=size, w=size, k=3, s=1, p=1,
                                    input_grad=bool(layers)))
            cin = cout
    return layers


def _cifar_vgg() -> list[ConvLayer]:
    # VGG-11 widths ("A"): 64 M 128 M 256 256 M 512 512 M 512 512 M, on 32 x 32.
    widths = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    layers: list[ConvLayer] = []
    cin, size = 3, 32
    for item in widths:
        if item == "M":
            size //= 2
            continue
        assert isinstance(item, int)
        layers.append(ConvLayer(f"conv{len(layers) + 1}", m=item, n=cin, h=size, w=size, k=3, s=1, p=1,
                                input_grad=bool(layers)))
        cin = item
    layers.append(fc_layer("fc", m=10, n=cin * size * size))
    return layers


def _lenet() -> list[ConvLayer]:
    return [
        ConvLayer("conv1", m=6, n=1, h=28, w=28, k=5, s=1, p=2, input_grad=False),
        ConvLayer("conv2", m=16, n=6, h=14, w=14, k=5, s=1, p=0),
        fc_layer("fc1", m=120, n=16 * 5 * 5),
        fc_layer("fc2", m=84, n=120),
        fc_layer("fc3", m=10, n=84),
    ]


_NETWORKS: dict[str, Callable[[], list[ConvLayer]]] = {
    "vgg16": _vgg16,
    "cifar_vgg": _cifar_vgg,
    "lenet": _lenet,
}


def network_names() -> list[str]:
    """Names :func:`get_network` knows."""
    return list(_NETWORKS)


def get_network(name: str) -> list[ConvLayer]:
    """The convolution (and FC) layers of a named network, in forward order."""
    if name not in _NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(_NETWORKS)}")
    return _NETWORKS[name]()
