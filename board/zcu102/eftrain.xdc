# EF-Train, open: constraints of the ZCU102 design (block_design.tcl), read by build.tcl.
#
# Clock: everything in the PL runs on pl_clk0 of the Zynq UltraScale+ PS (EFTRAIN_PL_CLK_MHZ,
#   the zcu102 preset's clock_mhz, 100 MHz). The PS IP constrains that clock itself (its
#   generated XDC has the create_clock on the PS8 PLCLK output), so there is no create_clock here;
#   a second one would only override it.
# I/O: none. The design has no PL pins (DRAM through S_AXI_HP0_FPD, registers through
#   M_AXI_HPM0_FPD, the interrupt to the GIC through pl_ps_irq0): no PACKAGE_PIN/IOSTANDARD.
# Reset: rst_n comes from proc_sys_reset_0, synchronous to pl_clk0 (eftrain_top samples it
#   synchronously): an ordinary timed path, nothing to add.
# Interrupt: irq is a register output in the pl_clk0 domain; the GIC samples the level
#   asynchronously (the PS IP handles the crossing).
# Clock domain crossings: none (one clock).

# Bitstream: compressed (smaller file, faster pynq.Overlay download).
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
