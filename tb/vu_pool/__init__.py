"""Testbench of the vector unit's windowed pooling engine (rtl/eftrain_vu_pool.sv) with the DMA."""
