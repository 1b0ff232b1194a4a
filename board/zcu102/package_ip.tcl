# EF-Train, open: package rtl/ as a Vivado IP (IP-XACT component) for the ZCU102 block design.
#
# Sourced by build.tcl after versions.tcl, generated/params.tcl, generated/sources.tcl and
# generated/registers.tcl; expects EFTRAIN_REPO (repository root) and EFTRAIN_OUT (build
# directory). Leaves the IP in $EFTRAIN_OUT/ip_repo/eftrain_top (component.xml + sources).
#
# Interfaces: every top-level port of eftrain_top belongs to exactly one interface below (the
# logical -> physical port maps are explicit, nothing is left to name-based inference;
# tb/board/test_vivado_flow.py checks them against rtl/eftrain_top.sv):
#   m_axi   AXI4 master (DRAM, through a SmartConnect to S_AXI_HP0_FPD), 40-bit addresses,
#           32*WPB data bits, address space m_axi (1 TiB)
#   s_axil  AXI4-Lite slave (the CSRs, from M_AXI_HPM0_FPD); memory map s_axil with one 4 KiB
#           address block reg0 holding the register map (generated/registers.tcl, from the
#           IP-XACT that PeakRDL makes of rtl/regs/eftrain_csr.rdl)
#   clk     clock; both AXI interfaces are associated with it (ASSOCIATED_BUSIF) and rst_n
#   rst_n   reset, active low (synchronous in the RTL; proc_sys_reset drives it)
#   irq     interrupt, level high (IRQ_STATUS & IRQ_ENABLE)
# Ports connected directly rather than through an interface: none.

set EFTRAIN_INTERFACES {
    m_axi {kind aximm mode master ports {
        AWID m_axi_awid AWADDR m_axi_awaddr AWLEN m_axi_awlen AWSIZE m_axi_awsize
        AWBURST m_axi_awburst AWLOCK m_axi_awlock AWCACHE m_axi_awcache AWPROT m_axi_awprot
        AWQOS m_axi_awqos AWVALID m_axi_awvalid AWREADY m_axi_awready
        WDATA m_axi_wdata WSTRB m_axi_wstrb WLAST m_axi_wlast WVALID m_axi_wvalid WREADY m_axi_wready
        BID m_axi_bid BRESP m_axi_bresp BVALID m_axi_bvalid BREADY m_axi_bready
        ARID m_axi_arid ARADDR m_axi_araddr ARLEN m_axi_arlen ARSIZE m_axi_arsize
        ARBURST m_axi_arburst ARLOCK m_axi_arlock ARCACHE m_axi_arcache ARPROT m_axi_arprot
        ARQOS m_axi_arqos ARVALID m_axi_arvalid ARREADY m_axi_arready
        RID m_axi_rid RDATA m_axi_rdata RRESP m_axi_rresp RLAST m_axi_rlast RVALID m_axi_rvalid
        RREADY m_axi_rready
    }}
    s_axil {kind aximm mode slave ports {
        AWADDR s_axil_awaddr AWPROT s_axil_awprot AWVALID s_axil_awvalid AWREADY s_axil_awready
        WDATA s_axil_wdata WSTRB s_axil_wstrb WVALID s_axil_wvalid WREADY s_axil_wready
        BRESP s_axil_bresp BVALID s_axil_bvalid BREADY s_axil_bready
        ARADDR s_axil_araddr ARPROT s_axil_arprot ARVALID s_axil_arvalid ARREADY s_axil_arready
        RDATA s_axil_rdata RRESP s_axil_rresp RVALID s_axil_rvalid RREADY s_axil_rready
    }}
    clk   {kind clock mode slave ports {CLK clk}}
    rst_n {kind reset mode slave ports {RST rst_n}}
    irq   {kind interrupt mode master ports {INTERRUPT irq}}
}
set EFTRAIN_DIRECT_PORTS {}

# A byte count as Vivado writes sizes: 4096 -> 4K, 2^40 -> 1T.
proc eftrain_size {bytes} {
    foreach {unit shift} {E 60 P 50 T 40 G 30 M 20 K 10} {
        if {$bytes >= (1 << $shift) && $bytes % (1 << $shift) == 0} {
            return "[expr {$bytes >> $shift}]$unit"
        }
    }
    return $bytes
}

set ip_root    [file join $EFTRAIN_OUT ip_repo $EFTRAIN_IP_NAME]
set ip_project [file join $EFTRAIN_OUT ip_project]
file delete -force $ip_root $ip_project

create_project -force eftrain_ip $ip_project -part $EFTRAIN_PART
set_property board_part $EFTRAIN_BOARD_PART [current_project]
set srcs {}
foreach f $EFTRAIN_RTL_SOURCES { lappend srcs [file join $EFTRAIN_REPO $f] }
add_files -norecurse $srcs
set_property file_type SystemVerilog [get_files *.sv]
set_property top $EFTRAIN_TOP [current_fileset]
update_compile_order -fileset sources_1

ipx::package_project -root_dir $ip_root -vendor $EFTRAIN_IP_VENDOR -library $EFTRAIN_IP_LIBRARY \
    -taxonomy /UserIP -import_files -set_current true -force
set core [ipx::current_core]
set_property name         $EFTRAIN_IP_NAME $core
set_property version      $EFTRAIN_IP_VERSION $core
set_property display_name "EF-Train CNN training accelerator ($EFTRAIN_PRESET preset)" $core
set_property description  "Unified FP32 FP/BP/WU convolution engine with descriptor-program DMA (github: EF-Train, open)" $core
set_property supported_families {zynquplus Production} $core

# Interfaces: drop whatever package_project inferred, then add ours with explicit port maps.
foreach bif [ipx::get_bus_interfaces -of_objects $core] {
    ipx::remove_bus_interface [get_property name $bif] $core
}
dict for {name spec} $EFTRAIN_INTERFACES {
    lassign [dict get $EFTRAIN_BUS [dict get $spec kind]] bus abstraction
    set bif [ipx::add_bus_interface $name $core]
    set_property abstraction_type_vlnv $abstraction $bif
    set_property bus_type_vlnv $bus $bif
    set_property interface_mode [dict get $spec mode] $bif
    foreach {logical physical} [dict get $spec ports] {
        set_property physical_name $physical [ipx::add_port_map $logical $bif]
    }
}
set rst_bif [ipx::get_bus_interfaces rst_n -of_objects $core]
set_property value ACTIVE_LOW [ipx::add_bus_parameter POLARITY $rst_bif]
set irq_bif [ipx::get_bus_interfaces irq -of_objects $core]
set_property value LEVEL_HIGH [ipx::add_bus_parameter SENSITIVITY $irq_bif]
ipx::associate_bus_interfaces -busif m_axi -clock clk $core
ipx::associate_bus_interfaces -busif s_axil -clock clk $core
ipx::associate_bus_interfaces -clock clk -reset rst_n $core

# The AXI4 master's address space (40 bits: 1 TiB).
set space [ipx::add_address_space m_axi $core]
set_property range [eftrain_size [expr {1 << $EFTRAIN_AXI_ADDR_WIDTH}]] $space
set_property width $EFTRAIN_AXI_DATA_WIDTH $space
set_property master_address_space_ref m_axi [ipx::get_bus_interfaces m_axi -of_objects $core]

# The register map: one 4 KiB address block with every register and field.
set mmap [ipx::add_memory_map s_axil $core]
set_property slave_memory_map_ref s_axil [ipx::get_bus_interfaces s_axil -of_objects $core]
set block [ipx::add_address_block reg0 $mmap]
set_property range $EFTRAIN_CSR_BYTES $block
set_property width 32 $block
set_property usage register $block
eftrain_add_registers $block

# Parameters: the preset's values (generated/params.tcl), fixed (the software checks them).
dict for {name value} $EFTRAIN_PARAMS {
    set_property value $value [ipx::get_user_parameters $name -of_objects $core]
    set_property value $value [ipx::get_hdl_parameters $name -of_objects $core]
}

ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project
