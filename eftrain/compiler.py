"""The compiler: a PyTorch CNN to the descriptor programs of one training iteration.

:func:`compile_model` takes an ``nn.Module`` built from ``Conv2d``, ``BatchNorm2d``, ``ReLU``,
``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d(1)``, ``Flatten`` and ``Linear`` that runs
them one after another (an ``nn.Sequential``, nested ones, or any module whose ``forward`` is a
chain of such calls: it is traced with ``torch.fx``; ``F.relu`` and ``torch.flatten`` calls are
accepted too) and lays out one training iteration on the accelerator:

* a **memory plan** (:class:`eftrain.program.MemoryPlan`) holding, in the reshaped layouts of
  :mod:`eftrain.golden.layout`, the input batch, every activation the backward pass needs, every
  gradient, the parameters, their momentum buffers and the batch-norm blocks;
* the **forward program**: FP of every layer (ReLU fused into the store of the convolution,
  fully connected layer or batch norm it follows);
* the host's part: softmax cross-entropy on the logits (read from DRAM), ``dlogits`` written
  back (:meth:`CompiledModel.loss_and_grad`);
* the **backward program**: for each layer from the last to the first, the ReLU mask (when it
  was fused into a convolution or FC store), BN BP (mask included), BP of the convolution
  (skipped for the first layer), WU with the weights' SGD fused into its write-back (each dW
  tile updates its weight and momentum tiles as it leaves the engine; no dW tensor), bias
  gradient, and the SGD updates of the bias / BN parameters (all after the layer's BP, which
  still needs the old weights).

Every tensor one op writes is read in place by the next ops: the host never re-arranges data
between layers or phases. ``Flatten`` costs nothing: a fully connected layer after a
``C x H x W`` map reads the map's words as its ``ceil(C/Tn)*Tn*H*W`` input features, and the
compiler permutes the layer's weight columns to match once, when it packs the weights (padding
lanes get zero weight columns, whose gradient is zero, so they stay zero).

Unsupported modules or settings (dilation, groups, padding modes, ceil mode, ``BatchNorm2d``
without affine parameters or running statistics, a ``ReLU`` not after a convolution, FC or
batch norm, ...) raise ``ValueError`` naming the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eftrain.config import HwConfig, preset
from eftrain.descriptors import (
    BN_BLOCK_VECTORS,
    CONV_OPCODES,
    Descriptor,
    Flag,
    Opcode,
    encode_program,
    scalar_words,
    with_tiling,
)
from eftrain.golden.layout import fmap_layout, weight_layout
from eftrain.golden.vector import f32, pool_out_size
from eftrain.program import MemoryPlan

__all__ = ["CompiledModel", "Op", "ParamSlot", "compile_model", "module_chain"]

F32 = np.float32
DEFAULT_WINDOW = (0x1000_0000, 0x1000_0000 + (1 << 30))


# ------------------------------------------------------------------------------------------------
# The module chain
# ------------------------------------------------------------------------------------------------


def module_chain(model: Any) -> list[tuple[str, Any]]:
    """The ``(name, module-or-op)`` calls ``model`` makes, in order (``ValueError`` otherwise).

    Functional calls appear as ``("<name>", "relu")`` / ``("<name>", "flatten")``.
    """
    import torch
    from torch import fx, nn

    if isinstance(model, nn.Sequential):
        out: list[tuple[str, Any]] = []
        for name, mod in model.named_children():
            if isinstance(mod, nn.Sequential):
                out += [(f"{name}.{n}", m) for n, m in module_chain(mod)]
            else:
                out.append((name, mod))
        return out
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as exc:  # tracing failures have many types; report them all
        raise ValueError(f"model: {type(model).__name__} cannot be traced as a chain of layers "
                         f"({exc})") from exc
    chain: list[tuple[str, Any]] = []
    prev = None
    modules = dict(model.named_modules())
    for node in graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                raise ValueError(f"model: {type(model).__name__}.forward takes more than one input")
            prev = node
            continue
        if node.op == "output":
            if node.args[0] is not prev:
                raise ValueError("model: the output is not the last layer's result")
            break
        args = [a for a in node.args if isinstance(a, fx.Node)]
        if len(args) != 1 or args[0] is not prev or len(node.users) > 1:
            raise ValueError(f"model: {node.name} ({node.target}) is not part of a single chain of layers "
                             f"(branches and residual connections are not supported)")
        if node.op == "call_module":
            chain.append((str(node.target), modules[str(node.target)]))
        elif node.op == "call_function" and node.target in (torch.relu, torch.nn.functional.relu):
            chain.append((node.name, "relu"))
        elif (node.op == "call_function" and node.target is torch.flatten
              and tuple(node.args[1:]) in ((1,), (1, -1)) and not node.kwargs):
            chain.append((node.name, "flatten"))
        elif node.op == "call_method" and node.target == "relu" and len(node.args) == 1:
            chain.append((node.name, "relu"))
        elif node.op == "call_method" and node.target == "flatten" and tuple(node.args[1:]) == (1,):
            chain.append((node.name, "flatten"))
        else:
            raise ValueError(f"model: unsupported operation {node.name} ({node.op} {node.target})")
        prev = node
    return chain


# ------------------------------------------------------------------------------------------------
# Compiled model
# ------------------------------------------------------------------------------------------------


@dataclass
class ParamSlot:
    """One torch tensor (parameter or buffer) living in DRAM."""

    name: str                                   # its name in model.state_dict()
    region: str                                 # plan region
    offset: int                                 # byte offset in the region
    words: int                                  # words it occupies in DRAM (with padding)
    pack: Callable[[np.ndarray], np.ndarray]    # torch layout -> DRAM words (uint32)
    unpack: Callable[[np.ndarray], np.ndarray]  # DRAM words -> torch layout (float32)
    trainable: bool                             # a parameter (True) or a running statistic


@dataclass
class Op:
    """One descriptor with the layer and phase it belongs to (for statistics)."""

    layer: str
    phase: str      # fp, bp, wu, sgd
    desc: Descriptor
    macs: int = 0


@dataclass
class CompiledModel:
    """One training iteration of a model at a fixed input shape, ready to run."""

    cfg: HwConfig
    input_shape: tuple[int, int, int, int]
    classes: int
    plan: MemoryPlan
    forward: list[Op]
    backward: list[Op]
    fwd_addr: int
    bwd_addr: int
    input_region: str
    logits_region: str
    dlogits_region: str
    params: list[ParamSlot]
    layers: list[str]
    lr: float
    momentum: float
    weight_decay: float
    bn_modules: list[str] = field(default_factory=list)

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    def addr(self, region: str) -> int:
        return self.plan.regions[region].addr

    def input_words(self, x: np.ndarray) -> np.ndarray:
        """The input batch in its DRAM layout."""
        return fmap_layout(self.cfg, self.input_shape).pack(np.asarray(x, F32)).view(np.uint32)

    def logits(self, words: np.ndarray) -> np.ndarray:
        """``[B, classes]`` from the logits region's words."""
        return fmap_layout(self.cfg, (self.batch, self.classes, 1, 1)).unpack(words)[:, :, 0, 0]

    def dlogits_words(self, dlogits: np.ndarray) -> np.ndarray:
        lay = fmap_layout(self.cfg, (self.batch, self.classes, 1, 1))
        return lay.pack(np.asarray(dlogits, F32)[:, :, None, None]).view(np.uint32)


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


class _Act:
    """An activation: a feature map ``(B, C, H, W)`` in DRAM, and the region of its gradient."""

    def __init__(self, name: str, shape: tuple[int, int, int, int], grad: str | None,
                 flat: tuple[int, int, int] | None = None):
        self.name = name
        self.shape = shape
        self.grad = grad      # written by the consumer's BP, read by the producer's
        self.flat = flat      # set when a Flatten relabelled a C x H x W map as features


class _Builder:
    def __init__(self, cfg: HwConfig, window: tuple[int, int], tiling: Callable[[Descriptor], Descriptor],
                 fuse_sgd: bool = True):
        self.cfg = cfg
        self.fuse_sgd = fuse_sgd
        self.plan = MemoryPlan(*window)
        self.fwd: list[Op] = []
        self.bwd_layers: list[list[Op]] = []
        self.params: list[ParamSlot] = []
        self.layers: list[str] = []
        self.tiling = tiling

    def cp(self, c: int) -> int:
        return -(-c // self.cfg.tn) * self.cfg.tn

    def fmap(self, name: str, shape: tuple[int, int, int, int]) -> str:
        self.plan.alloc(name, np.zeros(fmap_layout(self.cfg, shape).size, np.uint32))
        return name

    def act(self, name: str, shape: tuple[int, int, int, int], grad: bool = True) -> _Act:
        return _Act(self.fmap(name, shape), shape, self.fmap(f"{name}.grad", shape) if grad else None)

    def addr(self, name: str) -> int:
        return self.plan.regions[name].addr


def _pair(v: Any, what: str, mod_name: str) -> int:
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"{mod_name}: non-square {what} {v} is not supported")
        v = v[0]
    return int(v)


def _sgd_desc(b: _Builder, weight: str, grad: str, mom: str, words: int, sc: tuple[int, int, int],
              w_off: int = 0, g_off: int = 0) -> Descriptor:
    return Descriptor(opcode=Opcode.SGD, batch=0, m=words & 0xFFFF, n=words >> 16, h=0, w=0, k=0, stride=0,
                      src0=b.addr(grad) + g_off, src1=b.addr(mom), dst=b.addr(weight) + w_off,
                      reserved=(0, 0, *sc))


def compile_model(model: Any, input_shape: tuple[int, ...], cfg: HwConfig | str = "ci", *, lr: float = 0.01,
                  momentum: float = 0.0, weight_decay: float = 0.0,
                  window: tuple[int, int] = DEFAULT_WINDOW, tiling: str = "model",
                  fuse_sgd: bool = True) -> CompiledModel:
    """Compile one training iteration of ``model`` for inputs of ``input_shape`` (``(B, C, H, W)``
    or ``(B, N)``). ``tiling``: ``"model"`` (the analytical model's choice per layer phase) or
    ``"default"`` (the simplest legal tiling; faster to compile). ``fuse_sgd``: the weights' SGD
    runs in the WU's write-back (``Flag.SGD``: no dW tensor, no separate pass); ``False`` gives
    WU then an SGD descriptor (the same bits)."""
    from torch import nn

    from eftrain.descriptors import default_tiling

    c = preset(cfg)
    problem = c.top_level_problem()
    if problem is not None:
        raise ValueError(f"cfg: {problem}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 2:
        shape = (shape[0], shape[1], 1, 1)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape: expected (B, C, H, W) or (B, N), got {tuple(input_shape)}")
    for name, v in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        if not np.isfinite(f32(v)) or f32(v) < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    if tiling == "model":
        def tile(d: Descriptor) -> Descriptor:
            return with_tiling(d, c, None)
    elif tiling == "default":
        def tile(d: Descriptor) -> Descriptor:
            return with_tiling(d, c, default_tiling(d, c))
    else:
        raise ValueError(f"tiling: expected 'model' or 'default', got {tiling!r}")
    chain = module_chain(model)
    if not chain:
        raise ValueError("model: no layers")
    b = _Builder(c, window, tile, fuse_sgd)
    sc = scalar_words(lr, momentum, weight_decay)
    batch = shape[0]
    cur = b.act("input", shape, grad=False)
    first = True   # no BP for the first layer that has parameters' input = the data
    bn_modules: list[str] = []

    def is_relu(m: Any) -> bool:
        return bool(m == "relu" or isinstance(m, nn.ReLU))

    i = 0
    while i < len(chain):
        name, mod = chain[i]
        nxt = chain[i + 1][1] if i + 1 < len(chain) else None
        if isinstance(mod, nn.Conv2d | nn.Linear):
            fc = isinstance(mod, nn.Linear)
            bn = None
            if not fc and isinstance(nxt, nn.BatchNorm2d):
                bn = chain[i + 1]
            if bn:
                relu_after = i + 2 < len(chain) and is_relu(chain[i + 2][1])
            else:
                relu_after = nxt is not None and is_relu(nxt)
            cur, ops_fwd, ops_bwd = _layer(b, name, mod, cur, bn, relu_after, first, batch, sc, bn_modules)
            b.fwd += ops_fwd
            b.bwd_layers.append(ops_bwd)
            first = False
            i += 1 + (1 if bn else 0) + (1 if relu_after else 0)
            continue
        if isinstance(mod, nn.MaxPool2d | nn.AvgPool2d | nn.AdaptiveAvgPool2d):
            cur, ops_fwd, ops_bwd = _pool(b, name, mod, cur, first)
            b.fwd += ops_fwd
            b.bwd_layers.append(ops_bwd)
            i += 1
            continue
        if mod == "flatten" or isinstance(mod, nn.Flatten):
            if isinstance(mod, nn.Flatten) and (mod.start_dim, mod.end_dim) != (1, -1):
                raise ValueError(f"{name}: only Flatten(start_dim=1) is supported")
            bb, ch, h, w = cur.shape
            cur = _Act(cur.name, (bb, b.cp(ch) * h * w, 1, 1), cur.grad, flat=(ch, h, w))
            i += 1
            continue
        if isinstance(mod, nn.BatchNorm2d):
            raise ValueError(f"{name}: BatchNorm2d must follow a Conv2d")
        if is_relu(mod):
            raise ValueError(f"{name}: ReLU must follow a Conv2d, a Linear or a BatchNorm2d")
        if isinstance(mod, nn.Dropout | nn.Identity):
            raise ValueError(f"{name}: {type(mod).__name__} is not supported")
        raise ValueError(f"{name}: unsupported module {type(mod).__name__}")
    bb, classes, h, w = cur.shape
    if (h, w) != (1, 1) or cur.flat is not None:
        raise ValueError(f"model: the last layer must produce [B, classes] logits, got a {cur.shape} map")
    assert cur.grad is not None
    tile_all = [*b.fwd, *(op for ops in b.bwd_layers for op in ops)]
    for op in tile_all:
        if op.desc.opcode in CONV_OPCODES:
            op.desc = tile(op.desc)
    backward = [op for ops in reversed(b.bwd_layers) for op in ops]
    fwd_addr = b.plan.alloc("program_fp", encode_program([o.desc for o in b.fwd]))
    bwd_addr = b.plan.alloc("program_bp", encode_program([o.desc for o in backward]))
    return CompiledModel(c, shape, classes, b.plan, b.fwd, backward, fwd_addr, bwd_addr, "input", cur.name,
                         cur.grad, b.params, b.layers, lr, momentum, weight_decay, bn_modules)


def _layer(b: _Builder, name: str, mod: Any, cur: _Act, bn: tuple[str, Any] | None, relu: bool,
           first: bool, batch: int, sc: tuple[int, int, int], bn_modules: list[str]
           ) -> tuple[_Act, list[Op], list[Op]]:
    """A convolution or FC layer (+ batch norm) (+ ReLU): its FP ops and its backward ops."""
    from torch import nn

    c = b.cfg
    fc = isinstance(mod, nn.Linear)
    bb, n_in, h, w = cur.shape
    if fc:
        if (h, w) != (1, 1):
            raise ValueError(f"{name}: Linear needs a flattened input (add nn.Flatten), "
                             f"got a {cur.shape} map")
        n_torch = cur.flat[0] * cur.flat[1] * cur.flat[2] if cur.flat else n_in
        if mod.in_features != n_torch:
            raise ValueError(f"{name}: in_features={mod.in_features}, the input has {n_torch} features")
        m, k, s, p = mod.out_features, 1, 1, 0
    else:
        if cur.flat is not None:
            raise ValueError(f"{name}: Conv2d after Flatten is not supported")
        if mod.in_channels != n_in:
            raise ValueError(f"{name}: in_channels={mod.in_channels}, the input has {n_in} channels")
        if mod.groups != 1 or _pair(mod.dilation, "dilation", name) != 1 or mod.padding_mode != "zeros":
            raise ValueError(f"{name}: groups, dilation and padding modes other than zeros are not supported")
        if isinstance(mod.padding, str):
            raise ValueError(f"{name}: string padding ({mod.padding!r}) is not supported; give a number")
        m = mod.out_channels
        k, s, p = (_pair(mod.kernel_size, "kernel", name), _pair(mod.stride, "stride", name),
                   _pair(mod.padding, "padding", name))
        if not 1 <= k <= 7 or not 1 <= s <= 4 or not 0 <= p <= k - 1:
            raise ValueError(f"{name}: kernel {k}, stride {s}, padding {p} outside K 1..7, S 1..4, P 0..K-1")
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: the {h}x{w} input is smaller than the kernel")
    b.layers.append(name)
    opc = ((Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU) if fc
           else (Opcode.CONV_FP, Opcode.CONV_BP, Opcode.CONV_WU))
    wl = weight_layout(c, (m, n_in, k, k))
    wreg = f"{name}.weight"
    b.plan.alloc(wreg, np.zeros(wl.size, np.uint32))
    if not b.fuse_sgd:
        b.plan.alloc(f"{name}.weight.grad", np.zeros(wl.size, np.uint32))
    b.plan.alloc(f"{name}.weight.mom", np.zeros(wl.size, np.uint32))
    b.params.append(ParamSlot(f"{name}.weight", wreg, 0, wl.size, *_weight_codec(c, wl, m, n_in, k, cur.flat),
                              trainable=True))
    has_bias = mod.bias is not None
    cp_m = b.cp(m)
    if has_bias:
        for suffix in ("bias", "bias.grad", "bias.mom"):
            b.plan.alloc(f"{name}.{suffix}", np.zeros(cp_m, np.uint32))
        b.params.append(ParamSlot(f"{name}.bias", f"{name}.bias", 0, cp_m, *_vec_codec(cp_m, m),
                                  trainable=True))
    y_shape = (bb, m, oh, ow)
    y = b.act(f"{name}.out", y_shape)
    assert y.grad is not None
    dims = dict(batch=batch, m=m, n=n_in, h=h, w=w, k=k, stride=s, pad=p)
    macs = batch * m * n_in * k * k * oh * ow
    flags = (Flag.BIAS if has_bias else 0) | (Flag.RELU if relu and bn is None else 0)
    bias_addr = b.addr(f"{name}.bias") if has_bias else 0
    fwd = [Op(name, "fp", Descriptor(opcode=opc[0], flags=int(flags), src0=b.addr(cur.name),
                                     src1=b.addr(wreg), src2=bias_addr, dst=b.addr(y.name), **dims), macs)]
    bwd: list[Op] = []
    out = y
    vec = dict(batch=batch, m=m, n=m, h=oh, w=ow, k=1, stride=1)
    dy_region = y.grad  # the gradient at the convolution's output the BP and WU consume
    if bn is not None:
        bn_name, bn_mod = bn
        if not (bn_mod.affine and bn_mod.track_running_stats) or bn_mod.momentum is None:
            raise ValueError(f"{bn_name}: BatchNorm2d needs affine=True, track_running_stats=True and a "
                             f"momentum (not None)")
        if bn_mod.num_features != m:
            raise ValueError(f"{bn_name}: num_features={bn_mod.num_features}, {name} has {m} channels")
        if batch * oh * ow < 2:
            raise ValueError(f"{bn_name}: batch norm needs more than one value per channel (batch {batch}, "
                             f"{oh}x{ow} map)")
        b.layers.append(bn_name)
        bn_modules.append(bn_name)
        blk = f"{bn_name}.block"
        b.plan.alloc(blk, np.zeros(len(BN_BLOCK_VECTORS) * cp_m, np.uint32))
        b.plan.alloc(f"{bn_name}.mom", np.zeros(2 * cp_m, np.uint32))
        for j, pname in enumerate(("weight", "bias", "running_mean", "running_var")):
            b.params.append(ParamSlot(f"{bn_name}.{pname}", blk, 4 * j * cp_m, cp_m, *_vec_codec(cp_m, m),
                                      trainable=j < 2))
        z = b.act(f"{bn_name}.out", y_shape)
        assert z.grad is not None
        bsc = scalar_words(float(bn_mod.eps), float(bn_mod.momentum))
        bflags = int(Flag.RELU if relu else 0)
        fwd.append(Op(bn_name, "fp", Descriptor(opcode=Opcode.BN_FP, flags=bflags, src0=b.addr(y.name),
                                                src1=b.addr(blk), dst=b.addr(z.name), reserved=(0, 0, *bsc),
                                                **vec)))
        bwd.append(Op(bn_name, "bp", Descriptor(opcode=Opcode.BN_BP, flags=bflags, src0=b.addr(z.grad),
                                                src1=b.addr(blk), src2=b.addr(y.name), dst=b.addr(dy_region),
                                                **vec)))
        bwd.append(Op(bn_name, "sgd", _sgd_desc(b, blk, blk, f"{bn_name}.mom", 2 * cp_m, sc,
                                                g_off=4 * 6 * cp_m)))
        out = z
    elif relu:
        dy_region = b.fmap(f"{name}.out.masked", y_shape)
        bwd.append(Op(name, "bp", Descriptor(opcode=Opcode.RELU_BP, src0=b.addr(y.grad), src1=b.addr(y.name),
                                             dst=b.addr(dy_region), **vec)))
    if not first:
        assert cur.grad is not None
        bwd.append(Op(name, "bp", Descriptor(opcode=opc[1], src0=b.addr(dy_region), src1=b.addr(wreg),
                                             dst=b.addr(cur.grad), **dims), macs))
    if b.fuse_sgd:   # SGD in WU's write-back: w and its momentum buffer updated per dW tile
        bwd.append(Op(name, "wu", Descriptor(opcode=opc[2], flags=int(Flag.SGD), src0=b.addr(cur.name),
                                             src1=b.addr(dy_region), src2=b.addr(f"{name}.weight.mom"),
                                             dst=b.addr(wreg), reserved=(0, 0, *sc), **dims), macs))
    else:
        bwd.append(Op(name, "wu", Descriptor(opcode=opc[2], src0=b.addr(cur.name), src1=b.addr(dy_region),
                                             dst=b.addr(f"{name}.weight.grad"), **dims), macs))
    if has_bias:
        bwd.append(Op(name, "wu", Descriptor(opcode=Opcode.BIAS_GRAD, src0=b.addr(dy_region),
                                             dst=b.addr(f"{name}.bias.grad"), **vec)))
    if not b.fuse_sgd:
        bwd.append(Op(name, "sgd", _sgd_desc(b, wreg, f"{name}.weight.grad", f"{name}.weight.mom", wl.size,
                                             sc)))
    if has_bias:
        bwd.append(Op(name, "sgd", _sgd_desc(b, f"{name}.bias", f"{name}.bias.grad", f"{name}.bias.mom", cp_m,
                                             sc)))
    return out, fwd, bwd


def _pool(b: _Builder, name: str, mod: Any, cur: _Act, first: bool) -> tuple[_Act, list[Op], list[Op]]:
    from torch import nn

    if cur.flat is not None:
        raise ValueError(f"{name}: pooling after Flatten is not supported")
    bb, ch, h, w = cur.shape
    b.layers.append(name)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        size = mod.output_size
        if size not in (1, (1, 1)):
            raise ValueError(f"{name}: only AdaptiveAvgPool2d(1) (global average pooling) is supported")
        op_fp, op_bp, flags, k, s, oh, ow = Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP, Flag.GLOBAL, 1, 1, 1, 1
    else:
        k = _pair(mod.kernel_size, "kernel", name)
        s = _pair(mod.stride if mod.stride is not None else mod.kernel_size, "stride", name)
        if _pair(mod.padding, "padding", name) != 0 or mod.ceil_mode:
            raise ValueError(f"{name}: pooling with padding or ceil_mode is not supported")
        if isinstance(mod, nn.MaxPool2d):
            if _pair(mod.dilation, "dilation", name) != 1 or mod.return_indices:
                raise ValueError(f"{name}: MaxPool2d with dilation or return_indices is not supported")
            op_fp, op_bp = Opcode.MAXPOOL_FP, Opcode.MAXPOOL_BP
        else:
            if mod.divisor_override is not None:
                raise ValueError(f"{name}: AvgPool2d with divisor_override is not supported")
            op_fp, op_bp = Opcode.AVGPOOL_FP, Opcode.AVGPOOL_BP
        flags = 0
        if not 1 <= k <= 7 or not 1 <= s <= 4 or h < k or w < k:
            raise ValueError(f"{name}: window {k}, stride {s} on a {h}x{w} map is not supported "
                             f"(k 1..7, s 1..4)")
        oh, ow = pool_out_size(h, k, s), pool_out_size(w, k, s)
    y_shape = (bb, ch, oh, ow)
    y = b.act(f"{name}.out", y_shape)
    assert y.grad is not None
    dims = dict(batch=bb, m=ch, n=ch, h=h, w=w, k=k, stride=s, flags=int(flags))
    idx = b.fmap(f"{name}.idx", y_shape) if op_fp == Opcode.MAXPOOL_FP else None
    fwd = [Op(name, "fp", Descriptor(opcode=op_fp, src0=b.addr(cur.name), dst=b.addr(y.name),
                                     src2=b.addr(idx) if idx else 0, **dims))]
    bwd: list[Op] = []
    if not first:
        assert cur.grad is not None
        bwd.append(Op(name, "bp", Descriptor(opcode=op_bp, src0=b.addr(y.grad),
                                             src1=b.addr(idx) if idx else 0, dst=b.addr(cur.grad), **dims)))
    return y, fwd, bwd


# ------------------------------------------------------------------------------------------------
# Parameter codecs (torch layout <-> DRAM words)
# ------------------------------------------------------------------------------------------------


Codec = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def _vec_codec(cp: int, ch: int) -> Codec:
    def pack(a: np.ndarray) -> np.ndarray:
        out = np.zeros(cp, np.uint32)
        out[:ch] = np.ascontiguousarray(a, F32).view(np.uint32)
        return out

    def unpack(words: np.ndarray) -> np.ndarray:
        return np.asarray(words[:ch], np.uint32).copy().view(F32)

    return pack, unpack


def _flatten_index(cfg: HwConfig, flat: tuple[int, int, int]) -> np.ndarray:
    """For each DRAM feature j of a flattened reshaped map, its torch flatten index (-1: padding)."""
    ch, h, w = flat
    tn = cfg.tn
    cb = -(-ch // tn)
    j = np.arange(cb * tn * h * w)
    lane = j % tn
    pix = j // tn
    ww = pix % w
    hh = (pix // w) % h
    blk = pix // (w * h)
    cc = blk * tn + lane
    return np.where(cc < ch, (cc * h + hh) * w + ww, -1)


def _weight_codec(cfg: HwConfig, wl: Any, m: int, n: int, k: int, flat: tuple[int, int, int] | None
                  ) -> Codec:
    if flat is None:
        def pack(a: np.ndarray) -> np.ndarray:
            return wl.pack(np.asarray(a, F32).reshape(m, n, k, k)).view(np.uint32)

        def unpack(words: np.ndarray) -> np.ndarray:
            return wl.unpack(words)

        return pack, unpack
    index = _flatten_index(cfg, flat)
    real = index >= 0

    def pack_flat(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, F32)
        full = np.zeros((m, index.size), F32)
        full[:, real] = a[:, index[real]]
        return wl.pack(full[:, :, None, None]).view(np.uint32)

    def unpack_flat(words: np.ndarray) -> np.ndarray:
        full = wl.unpack(words)[:, :, 0, 0]
        out = np.zeros((m, flat[0] * flat[1] * flat[2]), F32)
        out[:, index[real]] = full[:, real]
        return out

    return pack_flat, unpack_flat
