"""Testbench of the streaming vector unit (rtl/eftrain_vu_stream.sv) with the DMA."""
