#!/usr/bin/env python3
"""Generate every view of the CSR map from its one source, ``rtl/regs/eftrain_csr.rdl`` (SystemRDL).

    python ci/gen_regs.py             # rewrite the generated files in place
    python ci/gen_regs.py --check     # exit 1 (with a diff) if a committed file differs from a fresh run
    python ci/gen_regs.py --out DIR   # write the files under DIR (same relative paths) instead

Generated (relative to the repository root; never edit them by hand):

    rtl/regs/eftrain_csr.sv        register block, AXI4-Lite slave, flat hwif ports (PeakRDL-etana)
    rtl/regs/eftrain_csr_pkg.sv    constants for the RTL: ID, version, error codes, byte offsets
    rtl/regs/eftrain_csr.h         C header: field masks/positions and the block's struct (PeakRDL-cheader)
    rtl/regs/eftrain_csr_defs.h    C constants: ID, version, error codes, byte offsets of every word
    eftrain/csr_gen/__init__.py    the map as Python data, read by eftrain/csr.py
    docs/registers.md              the register document

Why PeakRDL-etana and not PeakRDL-regblock for the SystemVerilog: regblock's output uses unpacked
structs (hwif ports and internal state) and ``automatic`` variables, which Yosys 0.23 cannot read
("Only PACKED supported at this time"); no regblock option flattens them. etana is a fork of
regblock with the same field logic and flat ports, and it synthesizes with Yosys 0.23.

The output is deterministic: it depends only on the .rdl file and the pinned tool versions
(requirements-regs.txt), which the generated files name in their headers.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import re
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RDL = Path("rtl/regs/eftrain_csr.rdl")
TOP = "eftrain_csr"
BLOCK_BYTES = 0x1000
ADDR_BITS = 12

OUT_SV = Path("rtl/regs/eftrain_csr.sv")
OUT_PKG = Path("rtl/regs/eftrain_csr_pkg.sv")
OUT_H = Path("rtl/regs/eftrain_csr.h")
OUT_DEFS = Path("rtl/regs/eftrain_csr_defs.h")
OUT_PY = Path("eftrain/csr_gen/__init__.py")
OUT_MD = Path("docs/registers.md")
OUTPUTS = (OUT_SV, OUT_PKG, OUT_H, OUT_DEFS, OUT_PY, OUT_MD)

TOOLS = ("systemrdl-compiler", "peakrdl-etana", "peakrdl-cheader")

ACCESS_TEXT = {
    "RO": "read-only",
    "RW": "read/write",
    "W1C": "write 1 to clear",
    "W1P": "write 1 to pulse (reads 0)",
}


# --------------------------------------------------------------------------------------------
# Model: what the renderers need, extracted once from the compiled SystemRDL.


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" or "output"
    width: int
    meaning: str


@dataclass
class FieldInfo:
    name: str
    lsb: int
    width: int
    access: str  # RO, RW, W1C, W1P
    reset: int | None  # None: no storage (live value or counter without a defined reset)
    hardware: str  # how the hardware side uses the field (Markdown)
    desc: str
    encode: str | None = None

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1


@dataclass
class RegInfo:
    name: str
    offset: int
    width: int
    title: str
    desc: str
    fields: list[FieldInfo] = field(default_factory=list)

    @property
    def access(self) -> str:
        kinds = {f.access for f in self.fields}
        return kinds.pop() if len(kinds) == 1 else "/".join(sorted(kinds))

    @property
    def reset(self) -> int | None:
        if any(f.reset is None for f in self.fields):
            return None
        return sum(f.reset << f.lsb for f in self.fields)  # type: ignore[operator]

    def words(self) -> list[tuple[str, int]]:
        """(name, byte offset) of each 32-bit word: NAME for 32-bit, NAME_LO/NAME_HI for 64-bit."""
        if self.width == 32:
            return [(self.name, self.offset)]
        return [(f"{self.name}_LO", self.offset), (f"{self.name}_HI", self.offset + 4)]


@dataclass(frozen=True)
class EnumMember:
    name: str
    value: int
    desc: str


@dataclass
class RegMap:
    name: str
    title: str
    desc: str
    regs: list[RegInfo]
    err_codes: list[EnumMember]
    err_bits: int
    ports: list[Port]
    ident: int
    version: tuple[int, int, int]
    tools: dict[str, str]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ref_name(node: object) -> str:
    from systemrdl.node import FieldNode, SignalNode

    if isinstance(node, FieldNode):
        return f"{node.parent.inst_name}.{node.inst_name}"
    if isinstance(node, SignalNode):
        return f"`hwif_in_{node.inst_name}`"
    raise ValueError(f"unsupported property reference {node!r} in {RDL}")


def compile_rdl(path: Path):  # -> systemrdl.node.AddrmapNode
    from peakrdl_etana.udps import ALL_UDPS
    from systemrdl import RDLCompiler

    rdlc = RDLCompiler()
    for udp in ALL_UDPS:
        rdlc.register_udp(udp, soft=True)
    rdlc.compile_file(str(path))
    return rdlc.elaborate(top_def_name=TOP).top


def _field_access(f) -> str:  # f: systemrdl.node.FieldNode
    from systemrdl.rdltypes import OnWriteType

    if f.is_sw_writable and not f.is_sw_readable and f.get_property("singlepulse"):
        return "W1P"
    if f.get_property("onwrite") == OnWriteType.woclr:
        return "W1C"
    if f.is_sw_writable and f.is_sw_readable:
        return "RW"
    if f.is_sw_readable and not f.is_sw_writable:
        return "RO"
    raise ValueError(f"{f.get_path()}: access not covered by gen_regs.py (sw={f.get_property('sw')})")


def _field_hardware(f, reg_name: str, ports: list[Port]) -> str:
    """Describe the hardware side of a field and record its hwif ports (etana's naming)."""
    base = f"{reg_name}_{f.inst_name}".lower()
    parts: list[str] = []
    title = f"{reg_name}.{f.inst_name}"
    hwclr = f.get_property("hwclr")
    hwset = f.get_property("hwset")
    we = f.get_property("we")
    nxt = f.get_property("next")
    if f.get_property("counter"):
        if f.get_property("incr") is not None:
            raise ValueError(f"{title}: a counter's incr must be the default hwif input")
        port = f"hwif_in_{base}_incr"
        ports.append(Port(port, "input", 1, f"{title}: count one event in this cycle"))
        parts.append(f"counts the cycles with `{port}` high")
    elif f.get_property("intr"):
        if nxt is None:
            port = f"hwif_in_{base}"
            ports.append(Port(port, "input", f.width, f"{title}: interrupt event"))
            parts.append(f"set by `{port}`")
        else:
            parts.append(f"set by {_ref_name(nxt)}")
        if f.get_property("precedence").name == "hw":
            parts[-1] += " (wins over a clearing write in the same cycle)"
    elif f.is_hw_writable:
        if nxt is not None:
            raise ValueError(f"{title}: 'next' references are only supported on interrupt fields")
        port = f"hwif_in_{base}"
        if we not in (None, False) or f.implements_storage:
            ports.append(Port(port, "input", f.width, f"{title}: value to load"))
            when = f" when {_ref_name(we)}" if we not in (None, True, False) else ""
            parts.append(f"loaded from `{port}`{when}")
        else:
            ports.append(Port(port, "input", f.width, f"{title}: live value"))
            parts.append(f"live value of `{port}`")
    if hwset not in (None, True, False):
        parts.append(f"set by {_ref_name(hwset)}")
    if hwclr not in (None, True, False):
        parts.append(f"cleared by {_ref_name(hwclr)}")
    if f.is_hw_readable:
        port = f"hwif_out_{base}"
        pulse = f.get_property("singlepulse")
        ports.append(Port(port, "output", f.width,
                          f"{title}" + (": one-cycle pulse" if pulse else ": current value")))
        parts.append(f"drives `{port}`" + (" (one-cycle pulse)" if pulse else ""))
    if not parts:
        parts.append("constant")
    return "; ".join(parts)


def build_model(top) -> RegMap:
    from systemrdl.node import RegNode, SignalNode

    ports: list[Port] = []
    for sig in top.children():
        if isinstance(sig, SignalNode):
            ports.append(Port(f"hwif_in_{sig.inst_name}", "input", sig.width,
                              _one_line(sig.get_property("desc") or "")))
    regs: list[RegInfo] = []
    enums: dict[str, type] = {}
    for reg in top.children():
        if not isinstance(reg, RegNode):
            continue
        if reg.is_array:
            raise ValueError(f"{reg.inst_name}: register arrays are not supported by gen_regs.py")
        info = RegInfo(
            name=reg.inst_name,
            offset=reg.absolute_address,
            width=reg.get_property("regwidth"),
            title=reg.get_property("name"),
            desc=(reg.get_property("desc") or "").strip(),
        )
        has_intr = False
        for f in reg.fields():
            enc = f.get_property("encode")
            if enc is not None:
                enums[enc.type_name] = enc
            reset = f.get_property("reset")
            if reset is not None and not isinstance(reset, int):
                raise ValueError(f"{f.get_path()}: only constant resets are supported")
            if f.is_hw_writable and not f.implements_storage:
                reset = None  # a live input: no value of its own (a constant's reset is its value)
            info.fields.append(FieldInfo(
                name=f.inst_name,
                lsb=f.lsb,
                width=f.width,
                access=_field_access(f),
                reset=reset,
                hardware=_field_hardware(f, reg.inst_name, ports),
                desc=(f.get_property("desc") or "").strip(),
                encode=enc.type_name if enc is not None else None,
            ))
            has_intr |= bool(f.get_property("intr"))
        if has_intr:
            ports.append(Port(f"hwif_out_{reg.inst_name.lower()}_intr", "output", 1,
                              f"interrupt: any {reg.inst_name} bit pending and enabled (level)"))
        info.fields.sort(key=lambda x: x.lsb)
        regs.append(info)
    regs.sort(key=lambda r: r.offset)

    if list(enums) != ["err_code_e"]:
        raise ValueError(f"expected exactly one enum, err_code_e, in {RDL}; found {list(enums)}")
    err_enum = enums["err_code_e"]
    members = [EnumMember(m.name, m.value, _one_line(m.rdl_desc or "")) for m in err_enum]
    err_field = next(f for r in regs for f in r.fields if f.encode == "err_code_e")

    by_name = {r.name: r for r in regs}
    ident = by_name["ID"].reset
    ver = {f.name: f.reset for f in by_name["VERSION"].fields}
    assert ident is not None
    return RegMap(
        name=TOP,
        title=top.get_property("name"),
        desc=(top.get_property("desc") or "").strip(),
        regs=regs,
        err_codes=members,
        err_bits=err_field.width,
        ports=ports,
        ident=ident,
        version=(ver["MAJOR"], ver["MINOR"], ver["PATCH"]),  # type: ignore[arg-type]
        tools={t: importlib.metadata.version(t) for t in TOOLS},
    )


# --------------------------------------------------------------------------------------------
# Third-party exporters.


def export_sv(top, outdir: Path) -> Path:
    from peakrdl_etana import RegblockExporter
    from peakrdl_etana.cpuif.axi4lite import AXI4Lite_Cpuif_flattened

    RegblockExporter().export(
        top,
        str(outdir),
        cpuif_cls=AXI4Lite_Cpuif_flattened,
        module_name=TOP,
        reuse_hwif_typedefs=False,
        address_width=ADDR_BITS,
        default_reset_activelow=True,  # rst_n, synchronous, like the rest of rtl/
        default_reset_async=False,
        err_if_bad_addr=False,  # unmapped: OKAY, reads 0 (documented in the .rdl)
        err_if_bad_rw=False,  # writes to read-only registers: ignored, OKAY
    )
    return outdir / f"{TOP}.sv"


def export_cheader(top, path: Path) -> None:
    from peakrdl_cheader.exporter import CHeaderExporter

    CHeaderExporter().export(top, str(path), reuse_typedefs=False)


def sv_ports(sv_text: str) -> dict[str, tuple[str, int]]:
    """hwif ports of the generated module: name -> (direction, width)."""
    ports: dict[str, tuple[str, int]] = {}
    pattern = r"^\s*(input|output)\s+(?:wire|logic)\s*(?:\[(\d+):0\])?\s*(hwif_\w+)"
    for m in re.finditer(pattern, sv_text, flags=re.MULTILINE):
        ports[m.group(3)] = (m.group(1), int(m.group(2)) + 1 if m.group(2) else 1)
    return ports


def check_ports(model: RegMap, sv_text: str) -> None:
    """The documented hwif ports must be exactly the generated module's ports."""
    want = {p.name: (p.direction, p.width) for p in model.ports}
    have = sv_ports(sv_text)
    if want != have:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        differ = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        raise SystemExit(
            "gen_regs.py: the hwif ports it documents differ from the generated module's "
            f"(missing {missing}, unexpected {extra}, different {differ}); "
            "did the exporter's naming change?"
        )


# --------------------------------------------------------------------------------------------
# Own renderers.


def _stamp(model: RegMap, prefix: str = "") -> str:
    """Two lines naming the source and the tools, each line after the first starting with ``prefix``."""
    tools = ", ".join(f"{k} {v}" for k, v in model.tools.items())
    return f"Generated by ci/gen_regs.py from {RDL.as_posix()}; do not edit.\n{prefix}Tools: {tools}."


def _hex(value: int, digits: int = 3) -> str:
    return f"0x{value:0{digits}X}"


def _words(model: RegMap) -> list[tuple[str, int]]:
    return [w for r in model.regs for w in r.words()]


def render_sv_pkg(model: RegMap) -> str:
    major, minor, patch = model.version
    eb = model.err_bits
    lines = [
        "// EF-Train, open: constants of the CSR map for the RTL.",
        f"// {_stamp(model, '// ')}",
        "//",
        "// Use as eftrain_csr_pkg::NAME (Yosys 0.23 does not read `import pkg::*;` inside modules).",
        "",
        "`default_nettype none",
        "",
        "package eftrain_csr_pkg;",
        "",
        "  /* verilator lint_off UNUSEDPARAM */",
        f"  localparam logic [31:0] CSR_ID = 32'h{model.ident:08X};",
        f"  localparam logic [7:0]  CSR_VERSION_MAJOR = 8'd{major};",
        f"  localparam logic [7:0]  CSR_VERSION_MINOR = 8'd{minor};",
        f"  localparam logic [7:0]  CSR_VERSION_PATCH = 8'd{patch};",
        f"  localparam int          CSR_ADDR_BITS = {ADDR_BITS};",
        "",
        "  // Error codes (ERR_CODE.CODE).",
    ]
    width = max(len(m.name) for m in model.err_codes)
    for m in model.err_codes:
        lines.append(f"  localparam logic [{eb - 1}:0] ERR_{m.name:<{width}} = {eb}'h{m.value:02X};")
    lines += ["", "  // Byte offsets of the 32-bit words."]
    words = _words(model)
    width = max(len(n) for n, _ in words)
    for name, off in words:
        lines.append(f"  localparam logic [{ADDR_BITS - 1}:0] ADDR_{name:<{width}} = {ADDR_BITS}'h{off:03X};")
    lines += [
        "  /* verilator lint_on UNUSEDPARAM */",
        "",
        "endpackage",
        "",
        "`default_nettype wire",
        "",
    ]
    return "\n".join(lines)


def render_c_defs(model: RegMap) -> str:
    major, minor, patch = model.version
    up = model.name.upper()
    lines = [
        "/* EF-Train, open: constants of the CSR map for C.",
        f" * {_stamp(model, ' * ')}",
        " *",
        f" * Field masks and the register struct are in {OUT_H.name} (PeakRDL-cheader). All registers",
        " * are 32-bit words; read a 64-bit counter as its _LO word, then its _HI word (reading LO",
        " * latches the whole counter).",
        " */",
        f"#ifndef {up}_DEFS_H",
        f"#define {up}_DEFS_H",
        "",
        f"#define {up}_ID            0x{model.ident:08X}u",
        f"#define {up}_VERSION_MAJOR {major}u",
        f"#define {up}_VERSION_MINOR {minor}u",
        f"#define {up}_VERSION_PATCH {patch}u",
        f"#define {up}_BLOCK_BYTES   0x{BLOCK_BYTES:X}u",
        "",
        "/* Byte offsets of the 32-bit words. */",
    ]
    words = _words(model)
    width = max(len(n) for n, _ in words)
    for name, off in words:
        lines.append(f"#define {up}_{name + '_OFFSET':<{width + 7}} 0x{off:03X}u")
    lines += ["", "/* Error codes (ERR_CODE.CODE). */", f"enum {model.name}_err {{"]
    width = max(len(m.name) for m in model.err_codes)
    for m in model.err_codes:
        lines.append(f"    {up}_ERR_{m.name:<{width}} = 0x{m.value:02X}, /* {m.desc} */")
    lines += ["};", "", f"#endif /* {up}_DEFS_H */", ""]
    return "\n".join(lines)


def _py_item(head: str, text: str, indent: int = 4, width: int = 100) -> str:
    """``head: 'text',`` on one line, or the string split into concatenated pieces that fit."""
    pad = " " * indent
    line = f"{pad}{head}: {text!r},"
    if len(line) <= width:
        return line
    pieces = textwrap.wrap(text, width=width - indent - 8, drop_whitespace=False)
    body = "\n".join(f"{pad}    {p!r}" for p in pieces)
    return f"{pad}{head}: (\n{body}\n{pad}),"


def render_python(model: RegMap) -> str:
    major, minor, patch = model.version
    out = [
        '"""The CSR map as data.',
        "",
        _stamp(model),
        "",
        "Read through :mod:`eftrain.csr`, which adds typed look-up, field encoding and bus access.",
        "Registers: name -> (byte offset, width in bits, title, fields); fields: (name, lsb, width,",
        "access, reset), access one of RO, RW, W1C (write 1 to clear), W1P (write 1 to pulse, reads 0);",
        "reset None: a live hardware value without a reset of its own.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum",
        "",
        f'SOURCE = "{RDL.as_posix()}"',
        f"BLOCK_BYTES = 0x{BLOCK_BYTES:X}",
        f"ID = 0x{model.ident:08X}",
        f"VERSION = ({major}, {minor}, {patch})",
        "",
        "FieldRow = tuple[str, int, int, str, int | None]",
        "RegisterRow = tuple[int, int, str, tuple[FieldRow, ...]]",
        "",
        "REGISTERS: dict[str, RegisterRow] = {",
    ]
    for r in model.regs:
        out.append(f"    {r.name!r}: (0x{r.offset:03X}, {r.width}, {r.title!r}, (")
        for f in r.fields:
            reset = "None" if f.reset is None else f"0x{f.reset:X}"
            out.append(f"        ({f.name!r}, {f.lsb}, {f.width}, {f.access!r}, {reset}),")
        out.append("    )),")
    out += [
        "}",
        "",
        "",
        "class ErrCode(IntEnum):",
        '    """Error codes of ERR_CODE.CODE (see ERR_DESCRIPTIONS and docs/registers.md)."""',
        "",
    ]
    for m in model.err_codes:
        out.append(f"    {m.name} = 0x{m.value:02X}")
    out += ["", "", "ERR_DESCRIPTIONS: dict[ErrCode, str] = {"]
    for m in model.err_codes:
        out.append(_py_item(f"ErrCode.{m.name}", m.desc))
    out += ["}", ""]
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _md_bits(f: FieldInfo) -> str:
    return f"[{f.lsb}]" if f.width == 1 else f"[{f.msb}:{f.lsb}]"


def _md_reset(value: int | None, width: int) -> str:
    if value is None:
        return "—"
    return f"0x{value:0{max(1, (width + 3) // 4)}X}"


def render_markdown(model: RegMap) -> str:
    major, minor, patch = model.version
    out = [
        f"# {model.title}: register map v{major}.{minor}.{patch}",
        "",
        f"<!-- {_stamp(model)} -->",
        "",
        f"Generated from [`{RDL.as_posix()}`](../{RDL.as_posix()}), the one source of the register map, by "
        "`python ci/gen_regs.py`. Module `eftrain_csr` (`rtl/regs/eftrain_csr.sv`), C headers "
        "`rtl/regs/eftrain_csr.h` and `rtl/regs/eftrain_csr_defs.h`, RTL constants "
        "`rtl/regs/eftrain_csr_pkg.sv`, Python access `eftrain.csr`.",
        "",
        model.desc,
        "",
        "Access types: " + "; ".join(f"**{k}** {v}" for k, v in ACCESS_TEXT.items()) + ".",
        "",
        "## Register summary",
        "",
        "| Offset | Name | Access | Reset | Description |",
        "|---|---|---|---|---|",
    ]
    for r in model.regs:
        for i, (name, off) in enumerate(r.words()):
            reset = None if r.reset is None else (r.reset >> (32 * i)) & 0xFFFF_FFFF
            suffix = ""
            if r.width == 64:
                suffix = (" (bits [31:0]; reading it latches all 64 bits)" if i == 0
                          else " (bits [63:32], as latched by the last LO read)")
            out.append(f"| {_hex(off)} | [{name}](#{r.name.lower()}) | {r.access} | "
                       f"{_md_reset(reset, 32)} | {_md_cell(r.title)}{suffix} |")
    out += ["", "Every other address in the 4 KiB block is unmapped: reads return 0, writes are ignored, "
            "and both answer OKAY.", "", "## Registers", ""]
    for r in model.regs:
        words = ", ".join(f"{n} at {_hex(o)}" for n, o in r.words())
        out += [
            f"### {r.name}",
            "",
            f"**{r.title}**: offset {_hex(r.offset)}, {r.width} bits"
            + (f" ({words})" if r.width == 64 else "")
            + f", {r.access}, reset {_md_reset(r.reset, r.width)}.",
            "",
        ]
        if r.desc:
            out += [r.desc, ""]
        out += ["| Bits | Field | Access | Reset | Hardware | Description |", "|---|---|---|---|---|---|"]
        for f in r.fields:
            desc = f.desc + (" Values: see [error codes](#error-codes)." if f.encode else "")
            out.append(f"| {_md_bits(f)} | {f.name} | {f.access} | {_md_reset(f.reset, f.width)} | "
                       f"{_md_cell(f.hardware)} | {_md_cell(desc)} |")
        out.append("")
    out += [
        "## Error codes",
        "",
        f"`ERR_CODE.CODE` ({model.err_bits} bits); RTL `eftrain_csr_pkg::ERR_<NAME>`, "
        "C `EFTRAIN_CSR_ERR_<NAME>`, Python `eftrain.csr.ErrCode.<NAME>`.",
        "",
        "| Value | Name | Meaning |",
        "|---|---|---|",
    ]
    for m in model.err_codes:
        out.append(f"| 0x{m.value:02X} | {m.name} | {_md_cell(m.desc)} |")
    out += [
        "",
        "## Hardware interface of `eftrain_csr`",
        "",
        "Clock `clk`, synchronous active-low reset `rst_n` (resets every register to its reset value), "
        "AXI4-Lite slave `s_axil_*` (32-bit data, 12-bit address; `s_axil_awprot`/`arprot` are ignored; "
        "up to two transactions in flight, responses in order). The core-side ports:",
        "",
        "| Port | Dir | Width | Meaning |",
        "|---|---|---|---|",
    ]
    for p in model.ports:
        out.append(f"| `{p.name}` | {p.direction} | {p.width} | {_md_cell(p.meaning)} |")
    out += [
        "",
        "## Regenerating",
        "",
        "```",
        "python ci/gen_regs.py          # after editing rtl/regs/eftrain_csr.rdl",
        "python ci/gen_regs.py --check  # what tests/test_csr.py runs: fails on any drift",
        "```",
        "",
        "Tools (pinned in requirements-regs.txt): "
        + ", ".join(f"{k} {v}" for k, v in model.tools.items()) + ".",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


def generate(out_root: Path) -> list[Path]:
    """Write every generated file under ``out_root`` (same relative paths); return them."""
    top = compile_rdl(REPO / RDL)
    model = build_model(top)
    written: list[Path] = []

    with tempfile.TemporaryDirectory() as tmp:
        sv = export_sv(top, Path(tmp)).read_text(encoding="utf-8")
        # The C header's include guard is derived from the file name: export under the real name.
        export_cheader(top, Path(tmp) / OUT_H.name)
        header = (Path(tmp) / OUT_H.name).read_text(encoding="utf-8")
    check_ports(model, sv)

    texts = {
        OUT_SV: sv,
        OUT_PKG: render_sv_pkg(model),
        OUT_H: header,
        OUT_DEFS: render_c_defs(model),
        OUT_PY: render_python(model),
        OUT_MD: render_markdown(model),
    }
    for rel, text in texts.items():
        path = out_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def check(paths: Iterable[Path] = OUTPUTS) -> int:
    """Regenerate into a temporary tree and compare with the repository; 1 on any difference."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        bad = 0
        for rel in paths:
            fresh = (Path(tmp) / rel).read_text(encoding="utf-8")
            committed_path = REPO / rel
            committed = committed_path.read_text(encoding="utf-8") if committed_path.is_file() else ""
            if fresh != committed:
                bad += 1
                diff = difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                            f"{rel} (committed)", f"{rel} (generated)", lineterm="", n=1)
                print("\n".join(list(diff)[:60]))
        if bad:
            print(f"gen_regs: {bad} generated file(s) out of date; run `python ci/gen_regs.py`")
            return 1
    print(f"gen_regs: {len(OUTPUTS)} generated files match {RDL.as_posix()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    parser.add_argument("--out", type=Path, help="write under this directory instead of the repository")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    root = args.out.resolve() if args.out else REPO
    for path in generate(root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
