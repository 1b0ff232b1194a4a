# EF-Train, open: Vitis HLS flow for the unified kernel (C simulation, C synthesis, IP export).
#
#   cd <repo> && vitis_hls -f hls/run_hls.tcl                    ;# csim + csynth + export
#   cd <repo> && vitis_hls -f hls/run_hls.tcl -tclargs synth      ;# csynth + export only
#
# Needs Vitis HLS 2022.1 or newer (open_solution -flow_target, the DEPENDENCE pragma syntax used in
# eftrain_kernel.cpp). It is not run in this repository's CI (no Vitis here): the kernel's
# bit-exactness is checked by `tests/test_hls_csim.py` with g++ (make hls-csim).
#
# Parameters: hls/eftrain_params.h, generated for the zcu102 preset. For another preset run
#   .venv/bin/python hls/gen_params.py --preset <name>
# first (and regenerate the zcu102 header afterwards: the test checks the committed one).
#
# C simulation runs the harness hls/csim/csim_main.cpp with the arguments in the environment
# variable EFTRAIN_CSIM_ARGV (for example "run mem_in.bin prog.bin 0x4000 0x4000 0x9000
# mem_out.bin", files as written by tests/test_hls_csim.py); without it, "params" (a smoke test
# that prints the compiled parameters).
#
# Result: eftrain_hls/zcu102/impl/ip/ (IP catalog zip), an AXI4 master (gmem: DRAM, tensors and
# descriptors) and an AXI4-Lite slave (control: ap_ctrl, prog_base, prog_count, win_base,
# win_limit, status). Set the m_axi offset register (mem) to 0: descriptor addresses are absolute.

set stage [expr {[llength $argv] > 0 ? [lindex $argv 0] : "all"}]
if {$stage ni {all synth csim}} {
    error "run_hls.tcl: stage must be all, synth or csim (got $stage)"
}

set hls_dir   [file dirname [file normalize [info script]]]
set project   eftrain_hls
set solution  zcu102
set part      xczu9eg-ffvb1156-2-e
set clock_ns  10

# IEEE binary32 with separate multiply and add: no FMA contraction in C simulation either.
set cflags    "-std=c++14 -I$hls_dir"
set csimflags "-ffp-contract=off -fno-fast-math"

open_project -reset $project
set_top eftrain_kernel
add_files $hls_dir/eftrain_kernel.cpp -cflags $cflags -csimflags $csimflags
add_files -tb $hls_dir/csim/csim_main.cpp -cflags $cflags -csimflags $csimflags

open_solution -reset $solution -flow_target vivado
set_part $part
create_clock -period $clock_ns -name default
# 64-bit DRAM addresses on the AXI4 master (the descriptor format carries 64-bit addresses).
config_interface -m_axi_addr64=true

if {$stage in {all csim}} {
    set csim_argv "params"
    if {[info exists ::env(EFTRAIN_CSIM_ARGV)]} {
        set csim_argv $::env(EFTRAIN_CSIM_ARGV)
    }
    csim_design -argv $csim_argv
}

if {$stage in {all synth}} {
    csynth_design
    export_design -format ip_catalog -vendor eftrain.org -library hls -version 1.0 \
        -display_name "EF-Train unified training kernel (HLS)" \
        -description "CONV/FC FP, BP and WU from a descriptor program in DRAM"
}

exit
