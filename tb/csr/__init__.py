"""Testbench of the generated CSR block (rtl/regs/eftrain_csr.sv) over AXI4-Lite."""
