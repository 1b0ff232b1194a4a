"""Helpers shared by every testbench in ``tb/`` (import them, never copy them).

* :mod:`tb.common.sim`: locate Verilator, build a model into ``build/<tag>/<unit>/`` and run
  cocotb tests on it (``WAVES=1`` for FST waveforms).
"""
