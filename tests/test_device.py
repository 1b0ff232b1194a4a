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
    with pytest.raises(ValueError, match="needs a board interface"):
        eftrain.Device("board")   # no interface given, no pynq here
    with pytest.raises(ValueError, match="unknown preset"):
        eftrain.Device("golden", "zcu104")


# ------------------------------------------------------------------------------------------------
# The "board" backend: the PYNQ driver (board/pynq/driver.py) behind Device. These tests use a
# register-level model of the accelerator in Python (golden arithmetic, separate host and device
# memory so a missing cache sync shows); tb/board/test_pynq_driver.py runs the same driver on the RTL.

class _ModelBoard:
    """A BoardIO whose 'accelerator' runs each descriptor with the golden model."""

    def __init__(self, cfg: str = "ci") -> None:
        from eftrain import csr

        self.cfg = eftrain.preset(cfg)
        self.csr = csr
        self.off = csr.word_offsets()
        self.regs = {o: 0 for o in self.off.values()}
        self.regs[self.off["ID"]] = csr.ID
        self.regs[self.off["VERSION"]] = csr.encode("VERSION", MAJOR=csr.VERSION[0], MINOR=csr.VERSION[1])
        hw: dict[str, dict[str, int]] = {}
        for (reg, fld), attr in csr.HW_PARAMS.items():
            hw.setdefault(reg, {})[fld] = getattr(self.cfg, attr)
        for reg, fields in hw.items():
            self.regs[self.off[reg]] = csr.encode(reg, **fields)
        self.device: dict[int, np.ndarray] = {}   # what the accelerator sees (after sync_to_device)
        self.next = 0x4000_0000
        self.syncs = 0

    def read32(self, offset: int) -> int:
        return self.regs.get(offset, 0)

    def write32(self, offset: int, value: int) -> None:
        if offset == self.off["IRQ_STATUS"]:
            self.regs[offset] &= ~value
        elif offset == self.off["CTRL"]:
            if value & 1:
                self._run()
        else:
            self.regs[offset] = value

    def alloc(self, nbytes: int):
        from board.pynq.driver import DmaBuffer

        buf = DmaBuffer(self.next, np.zeros(-(-nbytes // 4), np.uint32))
        self.next += -(-nbytes // 4096) * 4096
        return buf

    def sync_to_device(self, buf) -> None:
        self.syncs += 1
        self.device[buf.physical_address] = buf.words.copy()

    def sync_from_device(self, buf) -> None:
        buf.words[:] = self.device[buf.physical_address]

    def wait_irq(self, timeout: float) -> bool:
        return bool(self.regs[self.off["IRQ_STATUS"]] & self.regs[self.off["IRQ_ENABLE"]])

    def _mem(self, addr: int, count: int) -> np.ndarray:
        for base, words in self.device.items():
            if base <= addr and addr + 4 * count <= base + 4 * words.size:
                lo = (addr - base) // 4
                return words[lo:lo + count]
        raise AssertionError(f"the model accelerator read unsynced memory at {addr:#x}")

    def _run(self) -> None:
        from eftrain.descriptors import DESC_WORDS, decode, validate
        from eftrain.golden.layout import fmap_layout, weight_layout

        r, c = self.regs, self.cfg
        base = r[self.off["PROG_BASE_LO"]] | r[self.off["PROG_BASE_HI"]] << 32
        window = (r[self.off["WINDOW_BASE_LO"]] | r[self.off["WINDOW_BASE_HI"]] << 32,
                  r[self.off["WINDOW_LIMIT_LO"]] | r[self.off["WINDOW_LIMIT_HI"]] << 32)
        done = self.csr.encode("STATUS", DONE=1)
        for i in range(r[self.off["PROG_COUNT"]]):
            d = decode(self._mem(base + 64 * i, DESC_WORDS))
            code = validate(d, c, window)
            if code:
                r[self.off["ERR_CODE"]] = self.csr.encode("ERR_CODE", CODE=int(code), INDEX=i)
                r[self.off["STATUS"]] = self.csr.encode("STATUS", DONE=1, ERROR=1)
                r[self.off["IRQ_STATUS"]] = self.csr.encode("IRQ_STATUS", DONE=1, ERROR=1)
                return
            xs, ws = (d.batch, d.n, d.h, d.w), (d.m, d.n, d.k, d.k)
            ys = (d.batch, d.m, d.oh, d.ow)
            fx, fy, fw = fmap_layout(c, xs), fmap_layout(c, ys), weight_layout(c, ws)
            f32 = lambda lay, a: np.asarray(lay.unpack(self._mem(a, lay.size)), np.float32)  # noqa: E731
            if d.phase == "fp":
                out, lay = engine.conv_fp(f32(fx, d.src0), f32(fw, d.src1), None, d.stride, d.pad, c), fy
            elif d.phase == "bp":
                out, lay = engine.conv_bp(f32(fy, d.src0), f32(fw, d.src1), xs, d.stride, d.pad, c), fx
            else:
                out, lay = engine.conv_wu(f32(fx, d.src0), f32(fy, d.src1), ws, d.stride, d.pad, c), fw
            self._mem(d.dst, lay.size)[:] = np.asarray(lay.pack(out)).view(np.uint32)
        r[self.off["STATUS"]] = done
        r[self.off["CYCLES_LO"]] = 1234
        r[self.off["IRQ_STATUS"]] = self.csr.encode("IRQ_STATUS", DONE=1)


def test_board_backend_needs_a_complete_interface():
    with pytest.raises(ValueError, match=r"lacks .*wait_irq"):
        eftrain.Device("board", "ci", interface=object())
    with pytest.raises(ValueError, match="only for the 'board' backend"):
        eftrain.Device("golden", "ci", interface=_ModelBoard())


def test_board_backend_checks_the_bitstream_parameters():
    with pytest.raises(ValueError, match="disagree with preset 'zcu102'"):
        eftrain.Device("board", "zcu102", interface=_ModelBoard("ci"))


def test_board_backend_runs_the_three_phases_through_the_driver():
    io = _ModelBoard("ci")
    dev = eftrain.Device("board", "ci", interface=io)
    assert repr(dev) == "Device('board', config='ci')"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 7, 6)).astype(F32)
    w = rng.standard_normal((6, 5, 3, 3)).astype(F32)
    dy = rng.standard_normal((2, 6, 7, 6)).astype(F32)
    y = dev.conv2d(x, w, stride=1, padding=1)
    assert np.array_equal(y.view(np.uint32), engine.conv_fp(x, w, None, 1, 1, "ci").view(np.uint32))
    st = dev.stats
    assert st["backend"] == "board" and st["cycles"] == 1234 and "CYCLES counter" in st["cycles_source"]
    dx = dev.conv2d_backward_input(dy, w, x.shape, stride=1, padding=1)
    assert np.array_equal(dx.view(np.uint32), engine.conv_bp(dy, w, x.shape, 1, 1, "ci").view(np.uint32))
    dw = dev.conv2d_backward_weight(x, dy, w.shape, stride=1, padding=1)
    assert np.array_equal(dw.view(np.uint32), engine.conv_wu(x, dy, w.shape, 1, 1, "ci").view(np.uint32))
    assert io.syncs == 3
    with pytest.raises(ValueError, match="w shape"):   # the same argument checks as every backend
        dev.conv2d(x, w[:, :1])
