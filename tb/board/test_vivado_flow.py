"""The ZCU102 Vivado flow (board/zcu102/) is consistent with the RTL and the presets, without Vivado.

Two views of the TCL:

* parsed: the interface table of ``package_ip.tcl`` against the ports of ``rtl/eftrain_top.sv``
  (every port in exactly one interface, logical names and directions of AXI4 / AXI4-Lite,
  clock, reset, interrupt), ``generated/params.tcl`` against ``eftrain/presets.json``, the
  register map of ``generated/registers.tcl`` against :mod:`eftrain.csr`, versions only in
  ``versions.tcl``;
* dry-run: ``build.tcl`` (which sources every other script) runs in plain ``tclsh`` with every
  Vivado command replaced by a stub that logs its arguments (TCL's ``unknown`` handler). That
  proves the scripts parse and every variable they use exists, and the log shows what Vivado
  would be asked: the block design's connections, addresses and PS configuration are checked on
  it. Skipped where ``tclsh`` is missing.

(``tb/board`` has no ``__init__.py`` on purpose: a package ``board`` under ``tb/`` would shadow
the top-level ``board`` package for pytest's rootdir-relative imports.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ZCU = REPO / "board" / "zcu102"

# AXI signals the master drives (the rest it receives).
MASTER_OUT = {"AWID", "AWADDR", "AWLEN", "AWSIZE", "AWBURST", "AWLOCK", "AWCACHE", "AWPROT", "AWQOS",
              "AWVALID", "WDATA", "WSTRB", "WLAST", "WVALID", "BREADY", "ARID", "ARADDR", "ARLEN",
              "ARSIZE", "ARBURST", "ARLOCK", "ARCACHE", "ARPROT", "ARQOS", "ARVALID", "RREADY"}
MASTER_IN = {"AWREADY", "WREADY", "BID", "BRESP", "BVALID", "ARREADY", "RID", "RDATA", "RRESP", "RLAST",
             "RVALID"}
AXI_LITE = {"AWADDR", "AWPROT", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP",
            "BVALID", "BREADY", "ARADDR", "ARPROT", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID",
            "RREADY"}


# ------------------------------------------------------------------------------------------------
# Helpers: a TCL list parser (braces, quotes, whitespace) and the RTL ports.

def tcl_list(text: str) -> list[str]:
    """The words of a TCL list (braced words unbraced, one level)."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise ValueError(f"unbalanced braces in TCL list: {text[i:i + 60]!r}")
            words.append(text[i + 1:j - 1])
            i = j
        elif text[i] == '"':
            j = text.index('"', i + 1)
            words.append(text[i + 1:j])
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            words.append(text[i:j])
            i = j
    return words


def tcl_set(path: Path, var: str) -> str:
    """The braced value of ``set VAR {...}`` in a TCL file."""
    text = path.read_text()
    m = re.search(rf"^set {var} \{{", text, flags=re.MULTILINE)
    assert m, f"no 'set {var} {{...}}' in {path}"
    return tcl_list(text[m.end() - 1:])[0]


def rtl_ports() -> dict[str, tuple[str, str]]:
    """eftrain_top's ports: name -> (direction, packed range text)."""
    text = (REPO / "rtl" / "eftrain_top.sv").read_text()
    header = text[text.index("module eftrain_top"):]
    header = header[:header.index(");")]
    ports = {}
    for m in re.finditer(r"^\s*(input|output|inout)\b(?:\s+wire)?\s+logic\s*(\[[^\]]*\])?\s*(\w+)\s*,?\s*$",
                         header, flags=re.MULTILINE):
        ports[m.group(3)] = (m.group(1), m.group(2) or "")
    return ports


def interfaces() -> dict[str, dict[str, object]]:
    out = {}
    spec = tcl_list(tcl_set(ZCU / "package_ip.tcl", "EFTRAIN_INTERFACES"))
    for name, body in zip(spec[::2], spec[1::2], strict=True):
        d = tcl_list(body)
        fields = dict(zip(d[::2], d[1::2], strict=True))
        ports = tcl_list(fields["ports"])
        out[name] = {"kind": fields["kind"], "mode": fields["mode"],
                     "ports": list(zip(ports[::2], ports[1::2], strict=True))}
    return out


# ------------------------------------------------------------------------------------------------
# Parsed checks.

def test_every_top_level_port_is_in_exactly_one_interface() -> None:
    ports = rtl_ports()
    assert len(ports) >= 59, "port parser found too few ports of eftrain_top"
    seen: dict[str, str] = {}
    for name, itf in interfaces().items():
        for logical, physical in itf["ports"]:
            assert physical in ports, f"{name}.{logical} maps to {physical}, not a port of eftrain_top"
            assert physical not in seen, f"{physical} is in both {seen[physical]} and {name}"
            seen[physical] = name
    direct = tcl_list(tcl_set(ZCU / "package_ip.tcl", "EFTRAIN_DIRECT_PORTS"))
    for p in direct:
        assert p in ports and p not in seen, f"direct port {p}"
        seen[p] = "direct"
    missing = sorted(set(ports) - set(seen))
    assert not missing, f"ports of eftrain_top in no interface of package_ip.tcl: {missing}"


def test_interface_names_and_directions_follow_the_standards() -> None:
    ports = rtl_ports()
    itfs = interfaces()
    assert {n: (i["kind"], i["mode"]) for n, i in itfs.items()} == {
        "m_axi": ("aximm", "master"), "s_axil": ("aximm", "slave"), "clk": ("clock", "slave"),
        "rst_n": ("reset", "slave"), "irq": ("interrupt", "master")}
    for name, prefix in (("m_axi", "m_axi_"), ("s_axil", "s_axil_")):
        logical = [lg for lg, _ in itfs[name]["ports"]]
        assert len(set(logical)) == len(logical), f"{name}: a logical port twice"
        want = MASTER_OUT | MASTER_IN if name == "m_axi" else AXI_LITE
        assert set(logical) == want, f"{name}: {sorted(set(logical) ^ want)}"
        for lg, phys in itfs[name]["ports"]:
            assert phys == prefix + lg.lower(), f"{name}.{lg} -> {phys}"
            drives = lg in MASTER_OUT
            if name == "s_axil":
                drives = not drives
            assert ports[phys][0] == ("output" if drives else "input"), f"{phys} direction"
    assert itfs["clk"]["ports"] == [("CLK", "clk")] and ports["clk"][0] == "input"
    assert itfs["rst_n"]["ports"] == [("RST", "rst_n")] and ports["rst_n"][0] == "input"
    assert itfs["irq"]["ports"] == [("INTERRUPT", "irq")] and ports["irq"][0] == "output"
    text = (ZCU / "package_ip.tcl").read_text()
    assert "ACTIVE_LOW [ipx::add_bus_parameter POLARITY $rst_bif]" in text
    assert "LEVEL_HIGH [ipx::add_bus_parameter SENSITIVITY $irq_bif]" in text
    for bif in ("m_axi", "s_axil"):
        assert f"ipx::associate_bus_interfaces -busif {bif} -clock clk $core" in text
    assert "ipx::associate_bus_interfaces -clock clk -reset rst_n $core" in text


def _params_tcl() -> dict[str, str]:
    text = (ZCU / "generated" / "params.tcl").read_text().replace("\\\n", " ")
    out = {m.group(1): m.group(2).strip() for m in re.finditer(r"^set (\w+) (.+)$", text, flags=re.MULTILINE)}
    return out


def test_parameters_are_the_zcu102_preset() -> None:
    from eftrain.config import preset

    c = preset("zcu102")
    p = _params_tcl()
    body = p["EFTRAIN_PARAMS"]
    assert body.startswith("[dict create") and body.endswith("]")
    words = body[len("[dict create"):-1].split()
    assert dict(zip(words[::2], map(int, words[1::2]), strict=True)) == c.top_parameters()
    assert p["EFTRAIN_PRESET"] == "zcu102"
    assert float(p["EFTRAIN_PL_CLK_MHZ"]) == c.clock_mhz
    assert int(p["EFTRAIN_AXI_DATA_WIDTH"]) == c.bus_bits
    ports = rtl_ports()
    assert ports["m_axi_awaddr"][1] == f"[{int(p['EFTRAIN_AXI_ADDR_WIDTH']) - 1}:0]"
    assert ports["s_axil_awaddr"][1] == f"[{(int(p['EFTRAIN_CSR_BYTES']) - 1).bit_length() - 1}:0]"
    assert ports["m_axi_wdata"][1] == "[32*WPB-1:0]"        # the data width follows WPB = bus_bits/32
    top = set(re.findall(r"parameter\s+int\s+(\w+)", (REPO / "rtl" / "eftrain_top.sv").read_text()))
    assert set(c.top_parameters()) <= top


def test_generated_files_are_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ZCU / "gen_board.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, f"stale board/zcu102/generated:\n{proc.stdout}{proc.stderr}"


def test_register_map_in_the_ip_is_the_csr_map() -> None:
    from eftrain import csr

    text = (ZCU / "generated" / "registers.tcl").read_text()
    regs: dict[str, dict[str, object]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r"set r \[ipx::add_register (\w+) \$block\]", line):
            current = regs.setdefault(m.group(1), {"fields": {}})
        elif m := re.match(r"set_property address_offset (0x[0-9a-f]+) \$r", line):
            current["offset"] = int(m.group(1), 16)
        elif m := re.match(r"set_property size (\d+) \$r", line):
            current["size"] = int(m.group(1))
        elif m := re.match(r"set f \[ipx::add_field (\w+) \$r\]", line):
            fld = current["fields"].setdefault(m.group(1), {})
        elif m := re.match(r"set_property (bit_offset|bit_width|access) (\S+) \$f", line):
            fld[m.group(1)] = m.group(2)
    assert set(regs) == set(csr.REGISTERS)
    access = {"RO": "read-only", "RW": "read-write", "W1C": "read-write", "W1P": "write-only"}
    for name, r in csr.REGISTERS.items():
        got = regs[name]
        assert (got["offset"], got["size"]) == (r.offset, r.width), name
        assert set(got["fields"]) == set(r.fields), name
        for fname, f in r.fields.items():
            g = got["fields"][fname]
            assert (int(g["bit_offset"]), int(g["bit_width"])) == (f.lsb, f.width), f"{name}.{fname}"
            assert g["access"] == access[f.access], f"{name}.{fname}: {g['access']} for {f.access}"


def test_versions_live_only_in_versions_tcl() -> None:
    pattern = re.compile(r"\b20\d\d\.\d\b|:\d+\.\d+\b|part0:|xczu")
    for path in [*sorted(ZCU.rglob("*.tcl")), ZCU / "eftrain.xdc"]:
        if path.name == "versions.tcl":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert not pattern.search(line), f"{path.relative_to(REPO)}:{i}: a version string: {line.strip()}"
    bd = (ZCU / "block_design.tcl").read_text()
    table = (ZCU / "versions.tcl").read_text().split("[dict create", 1)[1].split("]", 1)[0]
    ips = tcl_list(table.replace("\\\n", " "))
    for name in re.findall(r"dict get \$EFTRAIN_IP (\w+)", bd):
        assert name in ips[::2], f"block_design.tcl uses IP {name} that versions.tcl does not pin"


def test_make_bitstream_without_vivado_fails_clearly() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not found")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and not (Path(p) / "vivado").exists())
    proc = subprocess.run([make, "-s", "bitstream"], cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "PATH": path})
    assert proc.returncode != 0
    assert "'vivado' is not on PATH" in proc.stderr


# ------------------------------------------------------------------------------------------------
# Dry run of the whole flow in tclsh.

PRELUDE = r"""
set ::calls [open $::env(EFTRAIN_DRYRUN_LOG) w]
set ::n 0
proc unknown {args} {
    puts $::calls [list {*}$args]
    incr ::n
    return "obj$::n:[lindex $args 0]:[lindex $args 1]"
}
proc version {args} { return $::EFTRAIN_VIVADO_VERSION }
proc get_property {name args} {
    puts $::calls [list get_property $name {*}$args]
    switch -- $name {
        PROGRESS { return 100% }
        STATS.WNS - STATS.WHS { return 0.250 }
        DIRECTORY { return $::env(EFTRAIN_DRYRUN_DIR) }
        default { return "prop:$name" }
    }
}
proc get_files {args} {
    puts $::calls [list get_files {*}$args]
    return [file join $::env(EFTRAIN_DRYRUN_DIR) eftrain_bd.hwh]
}
"""


@pytest.fixture(scope="module")
def dryrun(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh not found (Debian: tcl)")
    tmp = tmp_path_factory.mktemp("vivado-dryrun")
    (tmp / "eftrain_bd.hwh").write_text("<hwh/>")
    (tmp / "eftrain_bd_wrapper.bit").write_text("bit")
    script = tmp / "dryrun.tcl"
    script.write_text(PRELUDE + f"set argv [list {tmp / 'out'} 2 {tmp / 'results'}]\n"
                      f"source {ZCU / 'build.tcl'}\nclose $::calls\n")
    log = tmp / "calls.log"
    proc = subprocess.run([tclsh, str(script)], capture_output=True, text=True, check=False,
                          env={**os.environ, "EFTRAIN_DRYRUN_LOG": str(log), "EFTRAIN_DRYRUN_DIR": str(tmp)})
    assert proc.returncode == 0, f"build.tcl failed under tclsh:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp / "results" / "eftrain.bit").is_file() and (tmp / "results" / "eftrain.hwh").is_file()
    return [tcl_list(line) for line in log.read_text().splitlines()]


def _pins(call: list[str]) -> list[str]:
    """``[get_bd_pins a/b]`` words of a connect call, as logged (the stub's return values)."""
    return [w.split(":", 2)[2] for w in call[1:]]


def test_flow_runs_in_tclsh_with_stubbed_vivado(dryrun: list[list[str]]) -> None:
    cmds = [c[0] for c in dryrun]
    for step in ("create_project", "ipx::package_project", "ipx::save_core", "create_bd_design",
                 "validate_bd_design", "make_wrapper", "launch_runs", "write_hw_platform"):
        assert step in cmds, f"the flow never calls {step}"
    port_maps = [c for c in dryrun if c[0] == "ipx::add_port_map"]
    assert len(port_maps) == len(rtl_ports())
    regs = [c for c in dryrun if c[0] == "ipx::add_register"]
    from eftrain import csr

    assert [c[1] for c in regs] == list(csr.REGISTERS)
    xdc = [c for c in dryrun if c[0] == "add_files" and c[1] == "-fileset"]
    assert xdc and xdc[0][-1].endswith("eftrain.xdc")


def test_block_design_connects_the_accelerator(dryrun: list[list[str]]) -> None:
    from eftrain.config import preset

    nets = [_pins(c) for c in dryrun if c[0] == "connect_bd_net"]
    intf = [_pins(c) for c in dryrun if c[0] == "connect_bd_intf_net"]

    def net_of(pin: str) -> set[str]:
        found = [set(n) for n in nets if pin in n]
        assert len(found) == 1, f"{pin} is on {len(found)} nets"
        return found[0]

    assert "zynq_ultra_ps_e_0/pl_clk0" in net_of("eftrain_0/clk")
    clk = net_of("zynq_ultra_ps_e_0/pl_clk0")
    assert {"zynq_ultra_ps_e_0/maxihpm0_fpd_aclk", "zynq_ultra_ps_e_0/saxihp0_fpd_aclk",
            "proc_sys_reset_0/slowest_sync_clk", "smc_csr/aclk", "smc_mem/aclk"} <= clk
    assert "proc_sys_reset_0/peripheral_aresetn" in net_of("eftrain_0/rst_n")
    assert "zynq_ultra_ps_e_0/pl_resetn0" in net_of("proc_sys_reset_0/ext_reset_in")
    assert net_of("eftrain_0/irq") == {"eftrain_0/irq", "zynq_ultra_ps_e_0/pl_ps_irq0"}
    assert ["zynq_ultra_ps_e_0/M_AXI_HPM0_FPD", "smc_csr/S00_AXI"] in intf
    assert ["smc_csr/M00_AXI", "eftrain_0/s_axil"] in intf
    assert ["eftrain_0/m_axi", "smc_mem/S00_AXI"] in intf
    assert ["smc_mem/M00_AXI", "zynq_ultra_ps_e_0/S_AXI_HP0_FPD"] in intf
    # every interface of the IP is connected
    wired = {p.split("/", 1)[1] for n in nets + intf for p in n if p.startswith("eftrain_0/")}
    assert wired == set(interfaces())
    # PS and IP configuration
    c = preset("zcu102")
    props = [c_ for c_ in dryrun if c_[0] == "set_property" and c_[1] == "-dict"]
    ps = dict(zip(tcl_list(props[0][2])[::2], tcl_list(props[0][2])[1::2], strict=True))
    assert float(ps["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]) == c.clock_mhz
    assert int(ps["CONFIG.PSU__SAXIGP2__DATA_WIDTH"]) == c.bus_bits
    assert ps["CONFIG.PSU__USE__S_AXI_GP2"] == "1" and ps["CONFIG.PSU__USE__M_AXI_GP0"] == "1"
    assert ps["CONFIG.PSU__USE__IRQ0"] == "1"
    acc = [dict(zip(tcl_list(p[2])[::2], tcl_list(p[2])[1::2], strict=True)) for p in props[1:]]
    acc_cfg = next(a for a in acc if "CONFIG.TM" in a)
    assert {k.removeprefix("CONFIG."): int(v) for k, v in acc_cfg.items()} == c.top_parameters()
    addr = [c_ for c_ in dryrun if c_[0] == "assign_bd_address"]
    csr_seg = next(a for a in addr if "/zynq_ultra_ps_e_0/Data" in a)
    assert csr_seg[csr_seg.index("-range") + 1] == "4K"
    ddr = " ".join(" ".join(a) for a in addr if "/eftrain_0/m_axi" in a)
    assert "HP0_DDR_LOW" in ddr and "HP0_DDR_HIGH" in ddr
