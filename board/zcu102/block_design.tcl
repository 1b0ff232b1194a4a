# EF-Train, open: the ZCU102 block design around the accelerator IP.
#
# Sourced by build.tcl in the open project (versions.tcl and generated/params.tcl loaded, the IP of
# package_ip.tcl in the catalog). Creates block design eftrain_bd:
#
#   zynq_ultra_ps_e_0 (ZCU102 board preset)
#     pl_clk0 (EFTRAIN_PL_CLK_MHZ = the preset's clock) ──► every PL clock, both PS AXI port clocks
#     pl_resetn0 ──► proc_sys_reset_0 ──► peripheral_aresetn: eftrain_0/rst_n, SmartConnect resets
#     M_AXI_HPM0_FPD ──► smc_csr (SmartConnect: AXI4 -> AXI4-Lite) ──► eftrain_0/s_axil
#                        at EFTRAIN_CSR_BASE, 4 KiB
#     S_AXI_HP0_FPD (128 bits) ◄── smc_mem (SmartConnect) ◄── eftrain_0/m_axi
#                        the accelerator sees HP0_DDR_LOW and HP0_DDR_HIGH (all of the PS DDR)
#     pl_ps_irq0[0] ◄── eftrain_0/irq (the only PL interrupt: PYNQ's Interrupt class takes it
#                        without an AXI interrupt controller)
#
# HP0 is not cache-coherent: the driver flushes/invalidates its DMA buffer (pynq allocate).

set EFTRAIN_BD eftrain_bd
set EFTRAIN_CSR_BASE 0xA0000000

foreach vlnv [dict values $EFTRAIN_IP] { eftrain_check_ip $vlnv }
eftrain_check_ip $EFTRAIN_VLNV

create_bd_design $EFTRAIN_BD

# Processing system: the board preset (DDR, MIO, clocks), then the ports this design uses.
set ps [create_bd_cell -type ip -vlnv [dict get $EFTRAIN_IP zynq_ultra_ps_e] zynq_ultra_ps_e_0]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
set_property -dict [list \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $EFTRAIN_PL_CLK_MHZ \
    CONFIG.PSU__USE__M_AXI_GP0 {1} \
    CONFIG.PSU__MAXIGP0__DATA_WIDTH {32} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} \
    CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} \
    CONFIG.PSU__SAXIGP2__DATA_WIDTH $EFTRAIN_AXI_DATA_WIDTH \
    CONFIG.PSU__USE__IRQ0 {1} \
] $ps

# The accelerator, with the preset's parameters.
set acc [create_bd_cell -type ip -vlnv $EFTRAIN_VLNV eftrain_0]
set acc_cfg {}
dict for {name value} $EFTRAIN_PARAMS { lappend acc_cfg CONFIG.$name $value }
set_property -dict $acc_cfg $acc

set rst [create_bd_cell -type ip -vlnv [dict get $EFTRAIN_IP proc_sys_reset] proc_sys_reset_0]
set smc_csr [create_bd_cell -type ip -vlnv [dict get $EFTRAIN_IP smartconnect] smc_csr]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $smc_csr
set smc_mem [create_bd_cell -type ip -vlnv [dict get $EFTRAIN_IP smartconnect] smc_mem]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $smc_mem

# Clock and reset.
connect_bd_net [get_bd_pins zynq_ultra_ps_e_0/pl_clk0] \
    [get_bd_pins zynq_ultra_ps_e_0/maxihpm0_fpd_aclk] [get_bd_pins zynq_ultra_ps_e_0/saxihp0_fpd_aclk] \
    [get_bd_pins proc_sys_reset_0/slowest_sync_clk] [get_bd_pins smc_csr/aclk] [get_bd_pins smc_mem/aclk] \
    [get_bd_pins eftrain_0/clk]
connect_bd_net [get_bd_pins zynq_ultra_ps_e_0/pl_resetn0] [get_bd_pins proc_sys_reset_0/ext_reset_in]
connect_bd_net [get_bd_pins proc_sys_reset_0/peripheral_aresetn] \
    [get_bd_pins smc_csr/aresetn] [get_bd_pins smc_mem/aresetn] [get_bd_pins eftrain_0/rst_n]

# Registers: HPM0 -> SmartConnect -> AXI4-Lite slave.
connect_bd_intf_net [get_bd_intf_pins zynq_ultra_ps_e_0/M_AXI_HPM0_FPD] [get_bd_intf_pins smc_csr/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins smc_csr/M00_AXI] [get_bd_intf_pins eftrain_0/s_axil]

# DRAM: AXI4 master -> SmartConnect -> HP0.
connect_bd_intf_net [get_bd_intf_pins eftrain_0/m_axi] [get_bd_intf_pins smc_mem/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins smc_mem/M00_AXI] [get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP0_FPD]

# Interrupt.
connect_bd_net [get_bd_pins eftrain_0/irq] [get_bd_pins zynq_ultra_ps_e_0/pl_ps_irq0]

# Addresses: the CSR block in the PS's map, all of the PS DDR in the accelerator's.
assign_bd_address -target_address_space /zynq_ultra_ps_e_0/Data \
    -offset $EFTRAIN_CSR_BASE -range [eftrain_size $EFTRAIN_CSR_BYTES] [get_bd_addr_segs eftrain_0/s_axil/reg0]
foreach seg {HP0_DDR_LOW HP0_DDR_HIGH} {
    assign_bd_address -target_address_space /eftrain_0/m_axi [get_bd_addr_segs zynq_ultra_ps_e_0/SAXIGP2/$seg]
}

validate_bd_design
save_bd_design
