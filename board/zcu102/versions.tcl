# EF-Train, open: the ONE place for tool, board and IP versions of the ZCU102 flow.
#
# Every other script of board/zcu102/ takes its versions from here (tb/board/test_vivado_flow.py
# fails if a version string appears anywhere else). To move to another Vivado release, change
# EFTRAIN_VIVADO_VERSION and the IP versions below together (Vivado's IP catalog shows them:
# `get_ipdefs xilinx.com:ip:zynq_ultra_ps_e:*`), rebuild, and run the bring-up steps again.
#
# Pinned: Vivado 2022.1, the release of the PYNQ 3.0 images for the ZCU102 (the driver in
# board/pynq/ reads the .hwh that release writes).

set EFTRAIN_VIVADO_VERSION 2022.1
set EFTRAIN_PYNQ_VERSION   3.0.1

# Device and board (ZCU102 rev 1.0/1.1: XCZU9EG, speed grade -2).
set EFTRAIN_PART       xczu9eg-ffvb1156-2-e
set EFTRAIN_BOARD_PART xilinx.com:zcu102:part0:3.4

# Xilinx IP of the block design.
set EFTRAIN_IP [dict create \
    zynq_ultra_ps_e xilinx.com:ip:zynq_ultra_ps_e:3.4 \
    smartconnect    xilinx.com:ip:smartconnect:1.0 \
    proc_sys_reset  xilinx.com:ip:proc_sys_reset:5.0 \
]

# Bus and abstraction definitions of the accelerator's interfaces: kind -> {bus abstraction}.
set EFTRAIN_BUS [dict create \
    aximm     {xilinx.com:interface:aximm:1.0 xilinx.com:interface:aximm_rtl:1.0} \
    clock     {xilinx.com:signal:clock:1.0 xilinx.com:signal:clock_rtl:1.0} \
    reset     {xilinx.com:signal:reset:1.0 xilinx.com:signal:reset_rtl:1.0} \
    interrupt {xilinx.com:signal:interrupt:1.0 xilinx.com:signal:interrupt_rtl:1.0} \
]

# The accelerator IP this flow packages (its VLNV).
set EFTRAIN_IP_VENDOR  eftrain.open
set EFTRAIN_IP_LIBRARY eftrain
set EFTRAIN_IP_NAME    eftrain_top
set EFTRAIN_IP_VERSION 1.0
set EFTRAIN_VLNV "$EFTRAIN_IP_VENDOR:$EFTRAIN_IP_LIBRARY:$EFTRAIN_IP_NAME:$EFTRAIN_IP_VERSION"

# Stop early with a clear message on another Vivado release (EFTRAIN_ANY_VIVADO=1 only warns).
proc eftrain_check_vivado {} {
    set have [version -short]
    if {$have ne $::EFTRAIN_VIVADO_VERSION} {
        set msg "this flow is pinned to Vivado $::EFTRAIN_VIVADO_VERSION (board/zcu102/versions.tcl), running $have"
        if {[info exists ::env(EFTRAIN_ANY_VIVADO)] && $::env(EFTRAIN_ANY_VIVADO) eq "1"} {
            puts "WARNING: $msg; EFTRAIN_ANY_VIVADO=1, going on (IP versions may not exist)"
        } else {
            error "$msg; set EFTRAIN_ANY_VIVADO=1 to try anyway, or update versions.tcl"
        }
    }
}

# An IP VLNV must be in the catalog (else: name the versions that are).
proc eftrain_check_ip {vlnv} {
    if {[llength [get_ipdefs -all $vlnv]] == 0} {
        set family [join [lrange [split $vlnv :] 0 2] :]
        error "IP $vlnv is not in the catalog of Vivado [version -short]; available: [get_ipdefs -all $family:*] (update board/zcu102/versions.tcl)"
    }
}
