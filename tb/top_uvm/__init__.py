"""pyuvm layer-level verification environment of the whole accelerator (rtl/eftrain_top.sv), cocotb mode."""
