"""Testbench of the data movers (rtl/eftrain_loader.sv, rtl/eftrain_storer.sv) with the DMA and the engine."""
