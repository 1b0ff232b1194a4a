"""The HLS kernel (hls/) in C simulation: bit-exact against the golden model, same validation.

The kernel and its harness (hls/csim/csim_main.cpp) are compiled with g++ into
``build/hls/<preset>/`` (rebuilt only when a source, the generated parameter header, the flags
or the compiler change). Each test builds a DRAM image with the tensors in their reshaped
layouts (``eftrain.golden.layout``) and a descriptor program (``eftrain.descriptors``), runs the
kernel, and compares the WHOLE memory image with the one the golden model predicts: every
output word (padding lanes included) bit for bit, NaN == NaN, and every other word untouched.
Memory the program does not define starts as random garbage, so a word the kernel forgets to
write or writes by mistake shows up. The harness aborts if the kernel touches a word outside
the memory window.

Every descriptor carries a legal tiling (``tr``, ``chunk``: :mod:`eftrain.tiling`), which the
kernel uses for its row tiles and weight chunks: ``default_tiling`` (the tallest row tile, the
fewest chunks), a random legal one (the random layers), or every legal one (one layer).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.util
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from eftrain.config import HwConfig, preset
from eftrain.descriptors import (
    DESC_BYTES,
    HLS_IMPLEMENTED,
    VALIDATION_CODES,
    Descriptor,
    ErrCode,
    Flag,
    Opcode,
    default_tiling,
    encode_program,
    geometry,
    with_tiling,
)
from eftrain.descriptors import validate as validate_format
from eftrain.golden.engine import conv_bp, conv_fp, conv_wu, fc_bp, fc_fp, fc_wu
from eftrain.golden.layout import fmap_layout, weight_layout


def validate(d: Descriptor, cfg: HwConfig | str, window: tuple[int, int]) -> ErrCode:
    """The kernel's oracle: the descriptor rules for what hls/ implements (HLS_IMPLEMENTED)."""
    return validate_format(d, cfg, window, HLS_IMPLEMENTED)

ROOT = Path(__file__).resolve().parents[1]
HLS_DIR = ROOT / "hls"
BUILD_ROOT = ROOT / "build" / "hls"
SOURCES = (HLS_DIR / "eftrain_kernel.h", HLS_DIR / "eftrain_kernel.cpp", HLS_DIR / "csim" / "csim_main.cpp")
CXX = os.environ.get("CXX", "g++")
# IEEE binary32 with separate multiply and add (SPEC section 4): no FMA contraction, no fast math.
# The one waiver: g++ does not know Vitis HLS pragmas (test_gxx_warns_only_about_hls_pragmas
# proves it hides nothing else; GCC cannot waive it per file in C++).
CXXFLAGS = ("-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
            "-ffp-contract=off", "-fno-fast-math")
F32 = np.float32
FC_OPS = (Opcode.FC_FP, Opcode.FC_BP, Opcode.FC_WU)


# ------------------------------------------------------------------------------ build
def _gen_params() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eftrain_hls_gen_params", HLS_DIR / "gen_params.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@functools.cache
def _compiler_id() -> str:
    out = subprocess.run([CXX, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


@functools.cache
def harness(preset_name: str) -> Path:
    """The C-simulation harness for ``preset_name``, built (or reused) in build/hls/<preset>/."""
    out = BUILD_ROOT / preset_name
    out.mkdir(parents=True, exist_ok=True)
    header = _gen_params().render(preset_name)
    digest = hashlib.sha256()
    for src in SOURCES:
        digest.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    digest.update(header.encode() + " ".join(CXXFLAGS).encode() + _compiler_id().encode())
    want = digest.hexdigest()
    exe, stamp, hdr = out / "eftrain_csim", out / "build.sha256", out / "eftrain_params.h"
    with open(out / ".lock", "w") as lock:  # pytest-xdist workers share the build directory
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists() and stamp.exists() and stamp.read_text() == want:
            return exe
        hdr.write_text(header, encoding="utf-8")
        tmp = out / f"eftrain_csim.{os.getpid()}.tmp"
        cmd = [CXX, *CXXFLAGS, f'-DEFTRAIN_PARAMS_FILE="{hdr}"', f"-I{HLS_DIR}",
               str(SOURCES[1]), str(SOURCES[2]), "-o", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0 or res.stderr.strip():
            pytest.fail(f"g++ build of the HLS kernel ({preset_name}) failed:\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, exe)
        stamp.write_text(want)
    return exe


# ------------------------------------------------------------------------------ DRAM image
@dataclass
class Image:
    """A DRAM image: random garbage, a memory window, tensors allocated beat-aligned inside it."""

    cfg: HwConfig
    words: np.ndarray
    win_base: int
    win_limit: int
    regions: list[tuple[str, int, int]] = field(default_factory=list)  # (name, byte address, bytes)
    _next: int = 0

    @classmethod
    def new(cls, cfg: HwConfig, rng: np.random.Generator, window_bytes: int, *, win_base: int = 0x4000,
            margin: int = 0x4000) -> Image:
        window_bytes = -(-window_bytes // 4096) * 4096
        size = win_base + window_bytes + margin
        words = rng.integers(0, 1 << 32, size // 4, dtype=np.uint32)
        return cls(cfg, words, win_base, win_base + window_bytes, _next=win_base)

    @property
    def window(self) -> tuple[int, int]:
        return (self.win_base, self.win_limit)

    def alloc(self, name: str, nbytes: int) -> int:
        """A beat-aligned region; one beat of garbage after it that nothing may touch."""
        beat = self.cfg.bus_bits // 8
        addr = self._next
        self._next += -(-nbytes // beat) * beat + beat
        if self._next > self.win_limit:
            raise ValueError(f"window too small for {name}")
        self.regions.append((name, addr, nbytes))
        return addr

    def put(self, name: str, data: np.ndarray) -> int:
        """Allocate and store ``data`` (float32 or uint32 words); returns the byte address."""
        flat = np.ascontiguousarray(data).reshape(-1)
        addr = self.alloc(name, flat.size * 4)
        self.words[addr // 4 : addr // 4 + flat.size] = flat.view(np.uint32)
        return addr

    def where(self, byte_addr: int) -> str:
        for name, addr, nbytes in self.regions:
            if addr <= byte_addr < addr + nbytes:
                return f"{name}+{byte_addr - addr:#x}"
        inside = self.win_base <= byte_addr < self.win_limit
        return "unallocated window word" if inside else "outside the window"


def golden_exec(words: np.ndarray, d: Descriptor, cfg: HwConfig) -> None:
    """Run one (valid) descriptor on ``words`` with the golden model, in place."""
    x_l = fmap_layout(cfg, (d.batch, d.n, d.h, d.w))
    y_l = fmap_layout(cfg, (d.batch, d.m, d.oh, d.ow))
    w_l = weight_layout(cfg, (d.m, d.n, d.k, d.k))

    def read(addr: int, layout) -> np.ndarray:  # type: ignore[no-untyped-def]
        return layout.unpack(words[addr // 4 : addr // 4 + layout.size])

    def write(addr: int, layout, arr: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        words[addr // 4 : addr // 4 + layout.size] = layout.pack(arr).view(np.uint32)

    fc = d.opcode in FC_OPS
    if d.phase == "fp":
        x, w = read(d.src0, x_l), read(d.src1, w_l)
        bias = words[d.src2 // 4 : d.src2 // 4 + d.m].view(F32).copy() if d.flags & Flag.BIAS else None
        if fc:
            y = fc_fp(x[:, :, 0, 0], w[:, :, 0, 0], bias, cfg)[:, :, None, None]
        else:
            y = conv_fp(x, w, bias, d.stride, d.pad, cfg)
        write(d.dst, y_l, y)
    elif d.phase == "bp":
        dy, w = read(d.src0, y_l), read(d.src1, w_l)
        if fc:
            dx = fc_bp(dy[:, :, 0, 0], w[:, :, 0, 0], cfg)[:, :, None, None]
        else:
            dx = conv_bp(dy, w, x_l.shape, d.stride, d.pad, cfg)
        write(d.dst, x_l, dx)
    else:
        x, dy = read(d.src0, x_l), read(d.src1, y_l)
        if fc:
            dw = fc_wu(x[:, :, 0, 0], dy[:, :, 0, 0], cfg)[:, :, None, None]
        else:
            dw = conv_wu(x, dy, w_l.shape, d.stride, d.pad, cfg)
        write(d.dst, w_l, dw)


def golden_program(img: Image, prog_base: int, descs: list[Descriptor]) -> tuple[np.ndarray, int]:
    """The image and status word the golden model and eftrain.descriptors.validate predict."""
    words = img.words.copy()
    for i, d in enumerate(descs):
        err = validate(d, img.cfg, img.window)
        if err != ErrCode.NONE:
            return words, int(err) | (i << 8)
        golden_exec(words, d, img.cfg)
    return words, 0


def run_csim(img: Image, prog: np.ndarray, prog_base: int, tmp_path: Path, msg: str,
             window: tuple[int, int] | None = None) -> tuple[np.ndarray, int]:
    """Run the kernel on a copy of the image; returns (memory after, status word)."""
    exe = harness(img.cfg.name)
    mem_in, prog_f, mem_out = tmp_path / "mem_in.bin", tmp_path / "prog.bin", tmp_path / "mem_out.bin"
    img.words.tofile(mem_in)
    np.asarray(prog, np.uint32).tofile(prog_f)
    base, limit = window or img.window
    cmd = [str(exe), "run", str(mem_in), str(prog_f), hex(prog_base), hex(base), hex(limit), str(mem_out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, f"{msg}: harness failed ({res.returncode}):\n{res.stderr}"
    m = re.match(r"status (0x[0-9a-f]{8})", res.stdout)
    assert m, f"{msg}: unexpected harness output {res.stdout!r}"
    return np.fromfile(mem_out, np.uint32), int(m.group(1), 16)


def assert_image(got: np.ndarray, want: np.ndarray, img: Image, msg: str) -> None:
    """Whole-image comparison: bit for bit, any NaN equal to any NaN."""
    assert got.shape == want.shape, f"{msg}: image size {got.shape} != {want.shape}"
    diff = got != want
    if not diff.any():
        return
    gf, wf = got.view(F32), want.view(F32)
    diff &= ~(np.isnan(gf) & np.isnan(wf))
    bad = np.flatnonzero(diff)
    if bad.size == 0:
        return
    lines = [f"  {img.where(4 * int(i))} (byte {4 * int(i):#x}): got {got[i]:#010x} ({gf[i]!r}), "
             f"expected {want[i]:#010x} ({wf[i]!r})" for i in bad[:8]]
    pytest.fail(f"{msg}: {bad.size} word(s) differ\n" + "\n".join(lines))


def check_program(img: Image, descs: list[Descriptor], tmp_path: Path, msg: str) -> int:
    """Place the program in the window, run it in csim and in the golden model, compare."""
    prog = encode_program(descs)
    prog_base = img.put("program", prog)
    want, want_status = golden_program(img, prog_base, descs)
    got, status = run_csim(img, prog, prog_base, tmp_path, msg)
    assert status == want_status, f"{msg}: status {status:#x}, expected {want_status:#x}"
    assert_image(got, want, img, msg)
    return status


# ------------------------------------------------------------------------------ layers
@dataclass(frozen=True)
class Conv:
    b: int
    n: int
    m: int
    h: int
    w: int
    k: int = 3
    s: int = 1
    p: int = 0
    bias: bool = False

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.p - self.k) // self.s + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.p - self.k) // self.s + 1


def random_conv(rng: np.random.Generator, cfg: HwConfig) -> Conv:
    """Odd sizes, channels rarely multiples of Tn/Tm, K 1..7, stride 1..4, padding 0..K-1, batch 1..3."""
    k = int(rng.integers(1, 8))
    s = int(rng.integers(1, 5))
    p = int(rng.integers(0, k))
    lo = max(1, k - 2 * p)
    return Conv(b=int(rng.integers(1, 4)), n=int(rng.integers(1, 2 * cfg.tn + 3)),
                m=int(rng.integers(1, 2 * cfg.tm + 3)), h=lo + int(rng.integers(0, 9)),
                w=lo + int(rng.integers(0, 9)), k=k, s=s, p=p, bias=bool(rng.integers(0, 2)))


def conv_tensors(c: Conv, rng: np.random.Generator, kind: str = "normal") -> dict[str, np.ndarray]:
    shapes = {"x": (c.b, c.n, c.h, c.w), "w": (c.m, c.n, c.k, c.k), "dy": (c.b, c.m, c.oh, c.ow),
              "bias": (c.m,)}
    return {name: special_values(rng, shape, kind) for name, shape in shapes.items()}


def special_values(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Test data: ``normal``; ``mixed`` (5% NaN, +-Inf, subnormals, +-0); ``tiny`` (products
    underflow to subnormals); ``zeros`` (only +0.0 and -0.0)."""
    a = rng.standard_normal(shape).astype(F32)
    if kind == "mixed":
        specials = np.array([np.nan, np.inf, -np.inf, 1e-40, -3e-42, 0.0, -0.0, 1.4e-45], F32)
        pick = rng.random(shape) < 0.05
        a[pick] = rng.choice(specials, size=int(pick.sum()))
    elif kind == "tiny":
        a = (a * F32(1e-20)).astype(F32)
        pick = rng.random(shape) < 0.2
        a[pick] = (rng.standard_normal(int(pick.sum())) * 1e-39).astype(F32)  # subnormal inputs
    elif kind == "zeros":
        a = np.where(rng.random(shape) < 0.5, F32(0.0), F32(-0.0)).astype(F32)
    return a


# ------------------------------------------------------------------------------ tilings
Tilings = dict[str, tuple[int, int]]  # phase -> (tr, chunk)


def tiling_limits(d: Descriptor, cfg: HwConfig) -> tuple[int, int, int, int]:
    """(rows, tr_fit, red_tiles, chunk_fit) of a descriptor whose other fields are legal: the
    output rows, the tallest row tile whose input and output tiles fit the buffers (0: none),
    the reduction tiles, the most of them whose weights fit the weight buffer (0: none)."""
    g = geometry(d, cfg)
    lo, hi = 0, g.rows
    while lo < hi:  # the tile sizes grow with tr
        mid = (lo + hi + 1) // 2
        if (g.in_tile_words(mid, d.k, d.stride) <= cfg.in_buf_depth
                and g.out_tile_words(mid) <= cfg.out_buf_depth):
            lo = mid
        else:
            hi = mid - 1
    chunk_fit = min(g.red_tiles, cfg.w_buf_depth // g.w_chunk_words(1, cfg.acc_interleave))
    return g.rows, lo, g.red_tiles, chunk_fit


def random_tiling(d: Descriptor, cfg: HwConfig, rng: np.random.Generator) -> tuple[int, int]:
    """A random legal tiling: each of tr and chunk the smallest, the largest that fits, or any."""
    _, tr_fit, _, chunk_fit = tiling_limits(d, cfg)
    assert tr_fit >= 1 and chunk_fit >= 1, f"no tiling of {d} fits {cfg.name}"

    def pick(top: int) -> int:
        return [1, top, int(rng.integers(1, top + 1))][int(rng.integers(3))]

    return pick(tr_fit), pick(chunk_fit)


def tiled(d: Descriptor, cfg: HwConfig, tilings: Tilings | None = None,
          rng: np.random.Generator | None = None) -> Descriptor:
    """``d`` with its tiling: ``tilings[phase]`` if given, else random (with ``rng``), else the default."""
    if tilings and d.phase in tilings:
        return with_tiling(d, cfg, tilings[d.phase])
    if rng is not None:
        return with_tiling(d, cfg, random_tiling(d, cfg, rng))
    return with_tiling(d, cfg, default_tiling(d, cfg))


def conv_program(img: Image, c: Conv, t: dict[str, np.ndarray], phases: str = "fp,bp,wu",
                 tilings: Tilings | None = None, rng: np.random.Generator | None = None) -> list[Descriptor]:
    """FP, BP and WU of one conv layer (whichever ``phases`` lists), each output in its own region,
    each tiled by :func:`tiled`."""
    cfg = img.cfg
    x_l = fmap_layout(cfg, (c.b, c.n, c.h, c.w))
    y_l = fmap_layout(cfg, (c.b, c.m, c.oh, c.ow))
    w_l = weight_layout(cfg, (c.m, c.n, c.k, c.k))
    x = img.put("x", x_l.pack(t["x"]))
    w = img.put("w", w_l.pack(t["w"]))
    dy = img.put("dy", y_l.pack(t["dy"]))
    bias = img.put("bias", t["bias"]) if c.bias else 0
    geo = dict(batch=c.b, m=c.m, n=c.n, h=c.h, w=c.w, k=c.k, stride=c.s, pad=c.p)
    descs = []
    for ph in phases.split(","):
        if ph == "fp":
            descs.append(Descriptor(Opcode.CONV_FP, **geo, flags=Flag.BIAS if c.bias else 0, src0=x, src1=w,
                                    src2=bias, dst=img.alloc("y", y_l.nbytes)))
        elif ph == "bp":
            descs.append(Descriptor(Opcode.CONV_BP, **geo, src0=dy, src1=w, dst=img.alloc("dx", x_l.nbytes)))
        else:
            descs.append(Descriptor(Opcode.CONV_WU, **geo, src0=x, src1=dy, dst=img.alloc("dw", w_l.nbytes)))
    return [tiled(d, cfg, tilings, rng) for d in descs]


def window_for(c: Conv, cfg: HwConfig) -> int:
    """Window bytes enough for conv_program's tensors, a program and their guard beats."""
    x = fmap_layout(cfg, (c.b, c.n, c.h, c.w)).nbytes
    y = fmap_layout(cfg, (c.b, c.m, c.oh, c.ow)).nbytes
    w = weight_layout(cfg, (c.m, c.n, c.k, c.k)).nbytes
    return 2 * x + 2 * y + 2 * w + 4 * c.m + 8192


def run_conv(preset_name: str, c: Conv, seed: int, tmp_path: Path, kind: str = "normal",
             phases: str = "fp,bp,wu", tilings: Tilings | None = None, random_tilings: bool = False) -> None:
    """One program with the layer's phases; tilings: ``tilings``, else random legal ones
    (``random_tilings``), else the default."""
    cfg = preset(preset_name)
    rng = np.random.default_rng(seed)
    img = Image.new(cfg, rng, window_for(c, cfg))
    descs = conv_program(img, c, conv_tensors(c, rng, kind), phases, tilings, rng if random_tilings else None)
    used = ", ".join(f"{d.phase} tr={d.tr} chunk={d.chunk}" for d in descs)
    msg = f"seed={seed} preset={preset_name} layer={c} data={kind} phases={phases} tilings=({used})"
    for d in descs:
        assert validate(d, cfg, img.window) == ErrCode.NONE, f"{msg}: test layer is illegal"
    assert check_program(img, descs, tmp_path, msg) == 0, msg


# ------------------------------------------------------------------------------ tests: build
def test_params_header_is_generated_for_zcu102():
    gen = _gen_params()
    committed = (HLS_DIR / "eftrain_params.h").read_text(encoding="utf-8")
    assert committed == gen.render(gen.DEFAULT_PRESET), \
        "hls/eftrain_params.h is stale: run .venv/bin/python hls/gen_params.py"


@pytest.mark.parametrize("preset_name", ["ci", "odd", "zcu102"])
def test_harness_is_built_for_its_preset(preset_name):
    res = subprocess.run([str(harness(preset_name)), "params"], capture_output=True, text=True, check=True)
    got = dict(line.split("=", 1) for line in res.stdout.split())
    cfg = preset(preset_name)
    assert got["preset"] == preset_name
    for key in ("tm", "tn", "acc_interleave", "in_buf_depth", "out_buf_depth", "w_buf_depth", "bus_bits"):
        assert int(got[key]) == getattr(cfg, key), key


def test_gxx_warns_only_about_hls_pragmas(tmp_path):
    """-Wall -Wextra without the pragma waiver: every warning is an ignored '#pragma HLS'."""
    hdr = tmp_path / "eftrain_params.h"
    hdr.write_text(_gen_params().render("odd"), encoding="utf-8")
    cmd = [CXX, "-std=c++14", "-fsyntax-only", "-Wall", "-Wextra", f'-DEFTRAIN_PARAMS_FILE="{hdr}"',
           f"-I{HLS_DIR}", str(SOURCES[1]), str(SOURCES[2])]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if "warning:" in ln]
    assert warnings, "expected g++ to report the (ignored) HLS pragmas"
    others = [ln for ln in warnings if "ignoring" not in ln or "#pragma HLS" not in ln]
    assert not others, "\n".join(others)


# ------------------------------------------------------------------------------ tests: bit-exact
@pytest.mark.parametrize("preset_name", ["ci", "odd"])
@pytest.mark.parametrize("seed", range(16))
def test_random_layer_fp_bp_wu(preset_name, seed, tmp_path):
    """One program per random layer: FP, then BP, then WU of the same layer, random legal tilings."""
    cfg = preset(preset_name)
    seed = 7919 * seed + len(preset_name)
    run_conv(preset_name, random_conv(np.random.default_rng(seed), cfg), seed, tmp_path, random_tilings=True)


def test_zcu102_small_layer(tmp_path):
    run_conv("zcu102", Conv(b=2, n=19, m=17, h=7, w=6, k=3, s=2, p=1, bias=True), 102, tmp_path)


@pytest.mark.parametrize(("preset_name", "c", "tilings"), [
    # several row tiles (the output buffer holds 17 of 30 rows; t mod L carried across tiles)
    ("odd", Conv(b=2, n=7, m=4, h=30, w=30, k=3, s=1, p=1, bias=True), None),
    # stride 2, 3 row tiles of 9 rows (189 pixels: the WU bank shifts by one per tile); BP 4 tiles
    ("odd", Conv(b=1, n=6, m=3, h=41, w=41, k=5, s=2, p=2), None),
    ("ci", Conv(b=1, n=5, m=5, h=50, w=50, k=3, s=1, p=1, bias=True), None),
    # input-channel chunks: K=7 leaves room for 10 weight tiles (FP: 11 tiles over N; BP: 11
    # tiles over M; default: chunks of 6 and 5), WU for 2 (49 * L words each: 6 chunks):
    # partial sums stored and read back, bias added once
    ("odd", Conv(b=2, n=53, m=52, h=7, w=8, k=7, s=1, p=3, bias=True), None),
    # the same with the longest chunk first (10 + 1), uneven row tiles (3 + 3 + 1), WU one tile per chunk
    ("odd", Conv(b=2, n=53, m=52, h=7, w=8, k=7, s=1, p=3, bias=True),
     {"fp": (7, 10), "bp": (3, 10), "wu": (3, 1)}),
    # one row and one reduction tile per step
    ("ci", Conv(b=2, n=9, m=6, h=9, w=10, k=3, s=2, p=1, bias=True),
     {"fp": (1, 1), "bp": (1, 1), "wu": (1, 1)}),
    # a 1x1 convolution on a 1x1 map folds the batch into the width (like FC); stride 2 does not
    ("ci", Conv(b=7, n=11, m=9, h=1, w=1, k=1, bias=True), None),
    ("ci", Conv(b=7, n=11, m=9, h=1, w=1, k=1, bias=True), {"fp": (1, 1), "bp": (1, 2), "wu": (1, 1)}),
    ("odd", Conv(b=5, n=11, m=9, h=1, w=1, k=1, s=2), None),
])
def test_tiling_and_chunking(preset_name, c, tilings, tmp_path):
    run_conv(preset_name, c, 4242, tmp_path, tilings=tilings)


def test_every_legal_tiling_gives_the_same_bits(tmp_path):
    """One layer, every (tr, chunk) the rules allow, FP, BP and WU each: one program, each output
    in its own region, every one compared with the golden model (whole image)."""
    cfg = preset("odd")
    seed = 8080
    rng = np.random.default_rng(seed)
    c = Conv(b=2, n=12, m=8, h=7, w=6, k=3, s=2, p=1, bias=True)
    out_bytes = {"fp": fmap_layout(cfg, (c.b, c.m, c.oh, c.ow)).nbytes,
                 "bp": fmap_layout(cfg, (c.b, c.n, c.h, c.w)).nbytes,
                 "wu": weight_layout(cfg, (c.m, c.n, c.k, c.k)).nbytes}
    img = Image.new(cfg, rng, window_for(c, cfg) + 40 * (sum(out_bytes.values()) + 32))
    descs = []
    for d in conv_program(img, c, conv_tensors(c, rng)):
        rows, tr_fit, red, chunk_fit = tiling_limits(d, cfg)
        assert (tr_fit, chunk_fit) == (rows, red), "the buffers should allow every tiling of this layer"
        for tr in range(1, rows + 1):
            for chunk in range(1, red + 1):
                dst = img.alloc(f"{d.phase} tr={tr} chunk={chunk}", out_bytes[d.phase])
                descs.append(with_tiling(replace(d, dst=dst), cfg, (tr, chunk)))
    assert len(descs) == 4 * 3 + 7 * 2 + 4 * 3  # FP: 4 rows x 3 reduction tiles, BP: 7 x 2, WU: 4 x 3
    assert check_program(img, descs, tmp_path, f"seed={seed} layer={c} every tiling") == 0


@pytest.mark.parametrize(("c", "phases", "tilings", "full"), [
    # FP, WU: K * (W + 2P) == IN_DEPTH, one output row per tile
    (Conv(b=1, n=3, m=2, h=3, w=512, k=2), "fp,wu", None, "in"),
    # BP: (tr + K - 1) * (W + K - 1) == IN_DEPTH
    (Conv(b=1, n=3, m=2, h=3, w=511, k=2), "bp", {"bp": (1, 1)}, "in"),
    # tr * (output width) == OUT_DEPTH in every phase (WU: the dy tile)
    (Conv(b=2, n=3, m=4, h=5, w=256, k=1), "fp,bp,wu", {"fp": (2, 1), "bp": (2, 1), "wu": (2, 1)}, "out"),
    # chunk * K*K == W_DEPTH (FP, BP: 32 of 34 tiles, K = 4), chunk * K*K * L == W_DEPTH (WU: 8)
    (Conv(b=1, n=170, m=170, h=4, w=5, k=4, p=1, bias=True), "fp,bp,wu",
     {"fp": (3, 32), "bp": (2, 32), "wu": (1, 8)}, "w"),
])
def test_buffers_filled_exactly(c, phases, tilings, full, tmp_path):
    """odd preset: tilings that fill a buffer to its last word (one more row or reduction tile
    would be BUFFER_OVERFLOW)."""
    cfg = preset("odd")
    assert (cfg.in_buf_depth, cfg.out_buf_depth, cfg.w_buf_depth) == (1024, 512, 512)
    rng = np.random.default_rng(77)
    img = Image.new(cfg, rng, window_for(c, cfg))
    descs = conv_program(img, c, conv_tensors(c, rng), phases, tilings)
    for d in descs:
        g = geometry(d, cfg)
        used = {"in": g.in_tile_words(d.tr, d.k, d.stride), "out": g.out_tile_words(d.tr),
                "w": g.w_chunk_words(d.chunk, cfg.acc_interleave)}[full]
        assert used == {"in": cfg.in_buf_depth, "out": cfg.out_buf_depth, "w": cfg.w_buf_depth}[full], d
        bigger = replace(d, chunk=d.chunk + 1) if full == "w" else replace(d, tr=d.tr + 1)
        assert validate(bigger, cfg, img.window) == ErrCode.BUFFER_OVERFLOW, bigger
    assert check_program(img, descs, tmp_path, f"seed=77 layer={c} fills {full}") == 0


@pytest.mark.parametrize("preset_name", ["ci", "odd"])
@pytest.mark.parametrize("kind", ["mixed", "tiny", "zeros"])
def test_ieee_specials(preset_name, kind, tmp_path):
    """NaN, +-Inf, subnormal inputs and results, signed zeros: the golden model's bits."""
    c = Conv(b=2, n=7, m=6, h=6, w=5, k=3, s=1, p=1, bias=kind != "zeros")
    run_conv(preset_name, c, 31337, tmp_path, kind=kind)


@pytest.mark.parametrize(("preset_name", "batch", "chunk"), [
    ("ci", 3, None), ("odd", 3, None), ("zcu102", 3, None),
    # one reduction tile per chunk: the folded row's partial sums stored and read back
    ("ci", 3, 1), ("odd", 37, 1),
    # the folded row (the whole batch) fills the output buffer exactly
    ("odd", 512, None), ("ci", 2048, 2),
])
def test_fc_fp_bp_wu(preset_name, batch, chunk, tmp_path):
    """FC layers fold the batch into the width: one row tile of ``batch`` pixels (tr = 1)."""
    cfg = preset(preset_name)
    seed = 515 + batch
    rng = np.random.default_rng(seed)
    b, n, m = batch, 2 * cfg.tn + 5, cfg.tm + 3
    assert b <= cfg.out_buf_depth
    x_l, y_l = fmap_layout(cfg, (b, n, 1, 1)), fmap_layout(cfg, (b, m, 1, 1))
    w_l = weight_layout(cfg, (m, n, 1, 1))
    img = Image.new(cfg, rng, 2 * (x_l.nbytes + y_l.nbytes + w_l.nbytes) + 8192)
    x = img.put("x", x_l.pack(rng.standard_normal((b, n, 1, 1)).astype(F32)))
    w = img.put("w", w_l.pack(rng.standard_normal((m, n, 1, 1)).astype(F32)))
    dy = img.put("dy", y_l.pack(rng.standard_normal((b, m, 1, 1)).astype(F32)))
    bias = img.put("bias", rng.standard_normal(m).astype(F32))
    geo = dict(batch=b, m=m, n=n)
    descs = [
        Descriptor(Opcode.FC_FP, **geo, flags=Flag.BIAS, src0=x, src1=w, src2=bias,
                   dst=img.alloc("y", y_l.nbytes)),
        Descriptor(Opcode.FC_BP, **geo, src0=dy, src1=w, dst=img.alloc("dx", x_l.nbytes)),
        Descriptor(Opcode.FC_WU, **geo, src0=x, src1=dy, dst=img.alloc("dw", w_l.nbytes)),
    ]
    descs = [with_tiling(d, cfg, (1, chunk) if chunk else default_tiling(d, cfg)) for d in descs]
    for d in descs:
        assert d.tr == 1 and geometry(d, cfg).width == b, d
        assert validate(replace(d, batch=cfg.out_buf_depth + 1), cfg, (0, 1 << 62)) == ErrCode.BUFFER_OVERFLOW
    used = ", ".join(f"{d.phase} chunk={d.chunk}" for d in descs)
    msg = f"seed={seed} preset={preset_name} fc b={b} n={n} m={m} ({used})"
    assert check_program(img, descs, tmp_path, msg) == 0


@pytest.mark.parametrize("preset_name", ["ci", "odd"])
def test_two_layers_in_place(preset_name, tmp_path):
    """Data reshaping: layer 2 reads layer 1's output where it was written (padding lanes of
    the output regions start as garbage: the kernel must write them +0.0), then BP and WU of
    layer 2 read the same tensors in place."""
    cfg = preset(preset_name)
    seed = 2024
    rng = np.random.default_rng(seed)
    l1 = Conv(b=2, n=3, m=cfg.tn + 2, h=9, w=8, k=3, s=1, p=1, bias=True)
    l2 = Conv(b=2, n=l1.m, m=cfg.tm + 1, h=l1.oh, w=l1.ow, k=3, s=2, p=1)
    img = Image.new(cfg, rng, window_for(l1, cfg) + window_for(l2, cfg))
    t1 = conv_tensors(l1, rng)
    descs = conv_program(img, l1, t1, "fp")
    y1 = descs[0].dst
    w2 = img.put("w2", weight_layout(cfg, (l2.m, l2.n, 3, 3)).pack(rng.standard_normal((l2.m, l2.n, 3, 3))))
    dy2 = img.put("dy2", fmap_layout(cfg, (l2.b, l2.m, l2.oh, l2.ow)).pack(
        rng.standard_normal((l2.b, l2.m, l2.oh, l2.ow))))
    geo = dict(batch=l2.b, m=l2.m, n=l2.n, h=l2.h, w=l2.w, k=l2.k, stride=l2.s, pad=l2.p)
    x_bytes = fmap_layout(cfg, (l2.b, l2.n, l2.h, l2.w)).nbytes
    descs += [
        Descriptor(Opcode.CONV_FP, **geo, src0=y1, src1=w2,
                   dst=img.alloc("y2", fmap_layout(cfg, (l2.b, l2.m, l2.oh, l2.ow)).nbytes)),
        Descriptor(Opcode.CONV_BP, **geo, src0=dy2, src1=w2, dst=img.alloc("dy1", x_bytes)),
        Descriptor(Opcode.CONV_WU, **geo, src0=y1, src1=dy2,
                   dst=img.alloc("dw2", weight_layout(cfg, (l2.m, l2.n, 3, 3)).nbytes)),
    ]
    descs = [descs[0]] + [tiled(d, cfg, rng=rng) for d in descs[1:]]
    assert check_program(img, descs, tmp_path, f"seed={seed} preset={preset_name} chain {l1} -> {l2}") == 0


def test_input_padding_lanes_are_ignored(tmp_path):
    """The kernel reads lanes beyond C as +0.0 whatever DRAM holds there (they are padding)."""
    cfg = preset("odd")
    seed = 99
    rng = np.random.default_rng(seed)
    c = Conv(b=1, n=6, m=4, h=5, w=5, k=3, s=1, p=1)
    img = Image.new(cfg, rng, window_for(c, cfg))
    descs = conv_program(img, c, conv_tensors(c, rng))
    x_l = fmap_layout(cfg, (c.b, c.n, c.h, c.w))
    x0 = descs[0].src0 // 4
    view = img.words[x0 : x0 + x_l.size].reshape(c.b, x_l.blocks, c.h, c.w, cfg.tn)
    view[:, -1, :, :, c.n % cfg.tn :] = np.array(np.nan, F32).view(np.uint32)  # NaN in the padding lanes
    assert check_program(img, descs, tmp_path, f"seed={seed} padding lanes hold NaN") == 0


# ------------------------------------------------------------------------------ tests: validation
WINDOW_BEATS = 0x2000


def _bad(d: Descriptor, img: Image, name: str) -> Descriptor:
    """``d`` (a legal, tiled FP descriptor) broken as case ``name`` says."""
    base, limit = img.window
    top, beat = 1 << 64, img.cfg.bus_bits // 8
    y_bytes = fmap_layout(img.cfg, (d.batch, d.m, d.oh, d.ow)).nbytes
    cfg = img.cfg
    red_tiles = geometry(d, cfg).red_tiles
    max_chunk = cfg.w_buf_depth // (d.k * d.k)  # FP weight chunk limit
    changes: dict[str, dict] = {
        "stride 5": dict(stride=5),
        "stride 0": dict(stride=0),
        "K 0": dict(k=0),
        "K 8": dict(k=8),
        "kernel larger than the padded input": dict(h=2, k=5, pad=1),
        "padding = K": dict(pad=3),
        "zero batch": dict(batch=0),
        "zero columns": dict(w=0),
        "unknown opcode": dict(opcode=0x07),
        "undefined flag": dict(flags=0x02),
        "reserved word 13": dict(reserved=(0, 0, 1, 0, 0)),
        "reserved word 15": dict(reserved=(0, 0, 0, 0, 0x8000_0000)),
        "reserved bits of word 0": dict(reserved=(0x100, 0, 0, 0, 0)),
        "reserved bits of word 1": dict(reserved=(0, 3, 0, 0, 0)),
        "bias flag on BP": dict(opcode=Opcode.CONV_BP),
        "FC with K 3": dict(opcode=Opcode.FC_FP, h=1, w=1, pad=0),
        "input rows overflow the buffer": dict(w=cfg.in_buf_depth, h=3, tr=1),
        # the tiling (eftrain.tiling): rule 1, fields out of range
        "untiled (tr = chunk = 0)": dict(tr=0, chunk=0),
        "tr 0": dict(tr=0),
        "tr one past the output rows": dict(tr=d.oh + 1),
        "chunk 0": dict(chunk=0),
        "chunk one past the reduction tiles": dict(chunk=red_tiles + 1),
        "tr and chunk 0xFFFF": dict(tr=0xFFFF, chunk=0xFFFF),
        # rule 2, the tiling does not fit: one word, one row, one weight tile too many
        "output tile one word past the buffer": dict(k=1, pad=0, h=3, w=cfg.out_buf_depth + 1, tr=1),
        "row tile one row too tall": dict(k=1, pad=0, h=3, w=cfg.out_buf_depth // 2, tr=3),
        "weight chunk one tile past the buffer": dict(n=(max_chunk + 1) * cfg.tn, chunk=max_chunk + 1),
        "misaligned src1": dict(src1=d.src1 + 4),
        "misaligned bias": dict(src2=d.src2 + 8),
        "dst at the window limit": dict(dst=limit),
        "dst straddles the window limit": dict(dst=limit - beat),
        "dst ends one beat past the limit": dict(dst=limit - y_bytes + beat),
        "src0 below the window": dict(src0=base - beat),
        "dst near 2^64 (no wrap-around)": dict(dst=top - beat),
        "huge map (over 2^32 bytes)": dict(batch=0xFFFF, n=0xFFFF, h=0xFFFF, w=5, k=1, pad=0),
    }
    return replace(d, **changes[name])


BAD_CASES = {
    "stride 5": ErrCode.BAD_STRIDE, "stride 0": ErrCode.BAD_STRIDE, "K 0": ErrCode.BAD_KERNEL,
    "K 8": ErrCode.BAD_KERNEL, "kernel larger than the padded input": ErrCode.BAD_KERNEL,
    "padding = K": ErrCode.BAD_PADDING, "zero batch": ErrCode.ZERO_DIM, "zero columns": ErrCode.ZERO_DIM,
    "unknown opcode": ErrCode.BAD_OPCODE, "undefined flag": ErrCode.BAD_OPCODE,
    "reserved word 13": ErrCode.BAD_OPCODE, "reserved bits of word 1": ErrCode.BAD_OPCODE,
    "reserved word 15": ErrCode.BAD_OPCODE, "reserved bits of word 0": ErrCode.BAD_OPCODE,
    "untiled (tr = chunk = 0)": ErrCode.BAD_FIELD, "tr 0": ErrCode.BAD_FIELD,
    "tr one past the output rows": ErrCode.BAD_FIELD, "chunk 0": ErrCode.BAD_FIELD,
    "chunk one past the reduction tiles": ErrCode.BAD_FIELD, "tr and chunk 0xFFFF": ErrCode.BAD_FIELD,
    "output tile one word past the buffer": ErrCode.BUFFER_OVERFLOW,
    "row tile one row too tall": ErrCode.BUFFER_OVERFLOW,
    "weight chunk one tile past the buffer": ErrCode.BUFFER_OVERFLOW,
    "bias flag on BP": ErrCode.BAD_OPCODE, "FC with K 3": ErrCode.DIM_TOO_LARGE,
    "input rows overflow the buffer": ErrCode.BUFFER_OVERFLOW, "misaligned src1": ErrCode.MISALIGNED_ADDR,
    "misaligned bias": ErrCode.MISALIGNED_ADDR, "dst at the window limit": ErrCode.OUT_OF_WINDOW,
    "dst straddles the window limit": ErrCode.OUT_OF_WINDOW, "src0 below the window": ErrCode.OUT_OF_WINDOW,
    "dst ends one beat past the limit": ErrCode.OUT_OF_WINDOW,
    "dst near 2^64 (no wrap-around)": ErrCode.OUT_OF_WINDOW,
    "huge map (over 2^32 bytes)": ErrCode.OUT_OF_WINDOW,
}


@pytest.mark.parametrize("preset_name", ["ci", "odd"])
@pytest.mark.parametrize("case", list(BAD_CASES))
def test_illegal_descriptor_stops_and_writes_nothing(preset_name, case, tmp_path):
    """Program [WU, illegal FP, FP]: the WU runs, the illegal one reports validate()'s code with
    index 1 and writes nothing, the last never runs (whole image compared)."""
    cfg = preset(preset_name)
    seed = 1000 + sorted(BAD_CASES).index(case)
    rng = np.random.default_rng(seed)
    c = Conv(b=2, n=5, m=6, h=6, w=7, k=3, s=1, p=1, bias=True)
    img = Image.new(cfg, rng, window_for(c, cfg))
    wu, fp = conv_program(img, c, conv_tensors(c, rng), "wu,fp")
    bad = _bad(fp, img, case)
    msg = f"seed={seed} preset={preset_name} case={case!r} descriptor={bad}"
    assert validate(bad, cfg, img.window) == BAD_CASES[case], f"{msg}: the test's premise"
    status = check_program(img, [wu, bad, fp], tmp_path, msg)
    assert status == int(BAD_CASES[case]) | (1 << 8), msg


def _random_descriptor(rng: np.random.Generator, cfg: HwConfig,
                       window: tuple[int, int]) -> tuple[Descriptor, str]:
    """Mostly plausible descriptors with one or two fields pushed to or past a limit, and what
    was done to their tiling (see _random_tiling)."""
    base, limit = window
    beat = cfg.bus_bits // 8

    def pick(common: list[int], rare: list[int], p_rare: float = 0.15) -> int:
        vals = rare if rng.random() < p_rare else common
        return vals[int(rng.integers(len(vals)))]

    def addr() -> int:
        r = rng.random()
        if r < 0.75:
            return base + beat * int(rng.integers(0, (limit - base) // beat // 2))
        return pick([], [base - beat, limit - beat, limit, base + 4, base + 8, 0, (1 << 64) - beat,
                         (1 << 63), limit - 4 * beat], 1.0)

    opcode = pick([1, 2, 3, 4, 5, 6], [0, 7, 0x10, 0xFF], 0.05)
    fc = opcode in (4, 5, 6)
    big = [0, 1, 255, 1000, 0xFFFF, cfg.out_buf_depth, cfg.out_buf_depth + 1, cfg.in_buf_depth // 2]
    dims = [pick(list(range(1, 24)), big, 0.1) for _ in range(5)]
    h, w = (1, 1) if fc and rng.random() < 0.8 else (dims[3], dims[4])
    k = pick([1] if fc else [1, 2, 3, 4, 5, 6, 7], [0, 8, 15, 7, 6])
    stride = pick([1] if fc else [1, 2, 3, 4], [0, 5, 15])
    pad = pick([0] if fc else list(range(max(1, k))), [k, min(k + 1, 15), 15])
    flags = pick([0, 1] if opcode in (1, 4) else [0], [1, 2, 0x80], 0.08)
    reserved = [0] * 5
    if rng.random() < 0.05:
        reserved[int(rng.integers(0, 5))] = int(rng.integers(1, 16))
    d = Descriptor(opcode=opcode, flags=flags, batch=dims[0], m=dims[1], n=dims[2], h=h, w=w, k=k,
                   stride=stride, pad=pad, src0=addr(), src1=addr(), src2=addr(), dst=addr(),
                   reserved=tuple(reserved))
    tr, chunk, kind = _random_tiling(rng, d, cfg, window)
    return replace(d, tr=tr, chunk=chunk), kind


def _random_tiling(rng: np.random.Generator, d: Descriptor, cfg: HwConfig,
                   window: tuple[int, int]) -> tuple[int, int, str]:
    """(tr, chunk, kind) for ``d`` (tr = chunk = 0). If an earlier rule fails, anything ("early").
    Otherwise a legal tiling ("legal"; "tr at fit"/"chunk at fit": the largest that fits where a
    buffer, not the map, is the limit; "nothing fits": tr = chunk = 1 and still too big) or one
    pushed past a limit: "tr 0", "chunk 0", "tr past rows", "chunk past tiles" (rule 1), "tr
    past fit", "chunk past fit" (rule 2)."""
    u16 = 0xFFFF

    def one(vals: list[int]) -> int:
        return vals[int(rng.integers(len(vals)))]

    if validate(d, cfg, window) != ErrCode.BAD_FIELD:  # tr = 0: BAD_FIELD iff the earlier rules pass
        return one([0, 1, 2, 7, u16, int(rng.integers(0, 1 << 16))]), one([0, 1, 3, u16]), "early"
    rows, tr_fit, red, chunk_fit = tiling_limits(d, cfg)
    ok_tr = one([1, tr_fit, int(rng.integers(1, tr_fit + 1))]) if tr_fit else 1
    ok_chunk = one([1, chunk_fit, int(rng.integers(1, chunk_fit + 1))]) if chunk_fit else 1
    kind = one(["legal"] * 6 + ["tr 0", "chunk 0", "tr past rows", "chunk past tiles", "tr past fit",
                                "chunk past fit", "tr at fit", "chunk at fit"])
    if kind == "tr 0":
        return 0, ok_chunk, kind
    if kind == "chunk 0":
        return ok_tr, 0, kind
    if kind == "tr past rows" and rows < u16:  # (a 16-bit tr cannot pass 65535 + 12 output rows)
        return min(one([rows + 1, rows + 2, u16]), u16), ok_chunk, kind
    if kind == "chunk past tiles":
        return ok_tr, min(one([red + 1, red + 7, u16]), u16), kind
    if kind == "tr past fit" and tr_fit < rows:
        return tr_fit + 1, ok_chunk, kind
    if kind == "chunk past fit" and chunk_fit < red:
        return ok_tr, chunk_fit + 1, kind
    if kind == "tr at fit" and 1 <= tr_fit < rows and chunk_fit:
        return tr_fit, ok_chunk, kind
    if kind == "chunk at fit" and 1 <= chunk_fit < red and tr_fit:
        return ok_tr, chunk_fit, kind
    return ok_tr, ok_chunk, "legal" if tr_fit and chunk_fit else "nothing fits"


def _small_conv(op: Opcode, addrs: dict[str, int], **kw: int) -> Descriptor:
    """A K = 1 convolution on a 2 x 4 map, tiled (1, 1), with ``kw`` changed."""
    geo = dict(batch=2, m=3, n=5, h=2, w=4, k=1, stride=1, pad=0, tr=1, chunk=1)
    return Descriptor(opcode=op, **{**geo, **kw}, **addrs)


def _boundary_descriptors(cfg: HwConfig, window: tuple[int, int]) -> list[tuple[Descriptor, str]]:
    """Tilings that fill a buffer exactly ("exact ...": legal) next to the smallest overflow
    ("over ..."), for each buffer and phase, and the folded FC's output tile."""
    base = window[0]
    addrs = dict(src0=base, src1=base + 0x1000, src2=base + 0x2000, dst=base + 0x3000)
    ops = {"fp": Opcode.CONV_FP, "bp": Opcode.CONV_BP, "wu": Opcode.CONV_WU}
    fc_ops = {"fp": Opcode.FC_FP, "bp": Opcode.FC_BP, "wu": Opcode.FC_WU}
    ind, outd, wd, lat = cfg.in_buf_depth, cfg.out_buf_depth, cfg.w_buf_depth, cfg.acc_interleave
    out: list[tuple[Descriptor, str]] = []
    for phase, op in ops.items():
        conv = functools.partial(_small_conv, op, addrs)

        # output tile: tr * width words (K = 1: the input tile is the same size, in_depth > out_depth)
        out += [(conv(w=outd), "exact out"), (conv(w=outd + 1), "over out"),
                (conv(w=outd // 2, tr=2), "exact out"), (conv(w=outd // 2 + 1, tr=2), "over out")]
        # input tile
        if phase == "bp":  # (tr + K - 1) * (W + K - 1); K = 2: 2 * (W + 1)
            out += [(conv(k=2, w=ind // 2 - 1), "exact in"), (conv(k=2, w=ind // 2), "over in")]
        else:  # ((tr - 1) * S + K) * (W + 2P); stride 4 keeps the output tile a quarter of it
            out += [(conv(stride=4, w=ind), "exact in"), (conv(stride=4, w=ind + 1), "over in")]
        # weight chunk: chunk * K*K (WU: * L)
        limit = wd // lat if phase == "wu" else wd
        red = dict(m=(limit + 1) * cfg.tn) if phase == "bp" else dict(n=(limit + 1) * cfg.tn)
        out += [(conv(chunk=limit, **red), "exact w"), (conv(chunk=limit + 1, **red), "over w")]
        # folded FC: the batch is the width of the one output row
        fc = Descriptor(opcode=fc_ops[phase], batch=outd, m=3, n=5, tr=1, chunk=1, **addrs)
        out += [(fc, "exact out"), (replace(fc, batch=outd + 1), "over out"),
                (replace(fc, tr=2), "tr past rows")]
    return out


@pytest.mark.parametrize("preset_name", ["ci", "odd"])
def test_validate_matches_python_on_random_descriptors(preset_name, tmp_path):
    """eftrain::validate (the kernel's C++) against eftrain.descriptors.validate: 4000 random
    descriptors (their tilings legal, or pushed past each limit of eftrain.tiling) and the
    exact buffer boundaries."""
    cfg = preset(preset_name)
    seed = 4000 + len(preset_name)
    rng = np.random.default_rng(seed)
    seen: Counter[tuple[str, int]] = Counter()
    for window in ((0x1000_0000, 0x1000_0000 + (1 << 20)), (0x10_0000, 0x1_0000_0000)):
        cases = [_random_descriptor(rng, cfg, window) for _ in range(2000)]
        cases += _boundary_descriptors(cfg, window)
        descs = [d for d, _ in cases]
        path = tmp_path / "descs.bin"
        encode_program(descs).tofile(path)
        cmd = [str(harness(preset_name)), "validate", str(path), hex(window[0]), hex(window[1])]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = [int(v) for v in res.stdout.split()]
        want = [int(validate(d, cfg, window)) for d in descs]
        assert len(got) == len(want)
        bad = [i for i in range(len(want)) if got[i] != want[i]]
        assert not bad, (f"seed={seed} preset={preset_name} window={window}: {len(bad)} verdicts differ, "
                         f"first {descs[bad[0]]} ({cases[bad[0]][1]}): C++ {got[bad[0]]}, "
                         f"Python {want[bad[0]]}")
        seen.update((kind, code) for (_, kind), code in zip(cases, want, strict=True))
        if window[1] - window[0] == 1 << 20:
            missing = {int(e) for e in VALIDATION_CODES} - set(want)
            assert not missing, f"seed={seed}: the random descriptors never hit {missing}"
    # every tiling limit was hit from both sides, each with its code
    field, over = int(ErrCode.BAD_FIELD), int(ErrCode.BUFFER_OVERFLOW)
    # the tiling passed: a later rule (or none) decides
    passed = {int(ErrCode.NONE), int(ErrCode.MISALIGNED_ADDR), int(ErrCode.OUT_OF_WINDOW)}
    required = {"tr 0": {field}, "chunk 0": {field}, "tr past rows": {field}, "chunk past tiles": {field},
                "tr past fit": {over}, "chunk past fit": {over}, "over in": {over}, "over out": {over},
                "over w": {over}, "tr at fit": passed, "chunk at fit": passed, "exact in": passed,
                "exact out": passed, "exact w": passed, "legal": passed, "nothing fits": {over}}
    for kind, codes in required.items():
        hits = {code for (k, code), n in seen.items() if k == kind and n}
        assert hits and hits <= codes, \
            f"seed={seed} preset={preset_name}: {kind!r} gave {hits}, expected {codes}"
    assert int(ErrCode.NONE) in {code for (k, code) in seen if k in ("exact in", "exact out", "exact w")}


def _program_case(preset_name: str, where: str) -> tuple[Image, np.ndarray, int, int]:
    cfg = preset(preset_name)
    rng = np.random.default_rng(5)
    c = Conv(b=1, n=3, m=2, h=4, w=4)
    img = Image.new(cfg, rng, window_for(c, cfg))
    descs = conv_program(img, c, conv_tensors(c, rng), "fp")
    prog = encode_program(descs)
    beat = cfg.bus_bits // 8
    prog_base = {
        "misaligned": img._next + 4,
        "outside": img.win_limit + beat,
        "straddling": img.win_limit - beat,
        "below": img.win_base - DESC_BYTES,
    }[where]
    code = ErrCode.MISALIGNED_ADDR if where == "misaligned" else ErrCode.OUT_OF_WINDOW
    return img, prog, prog_base, int(code)


@pytest.mark.parametrize("where", ["misaligned", "outside", "straddling", "below"])
def test_program_outside_window_or_misaligned(where, tmp_path):
    """The program itself must be beat aligned and inside the window: else code, index 0, no access."""
    img, prog, prog_base, code = _program_case("ci", where)
    want = img.words.copy()
    want[prog_base // 4 : prog_base // 4 + prog.size] = prog  # the host wrote it there
    got, status = run_csim(img, prog, prog_base, tmp_path, f"program {where}")
    assert status == code, f"program {where}: status {status:#x}, expected {code:#x}"
    assert_image(got, want, img, f"program {where}")


def test_empty_program(tmp_path):
    cfg = preset("ci")
    img = Image.new(cfg, np.random.default_rng(6), 4096)
    got, status = run_csim(img, np.zeros(0, np.uint32), img.win_base, tmp_path, "empty program")
    assert status == 0
    assert_image(got, img.words, img, "empty program")
