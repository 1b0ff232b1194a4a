"""Testbench of the unified engine (rtl/eftrain_engine.sv): program player, driver, tests."""
