"""The golden model: semantic truth (torch autograd) and the bit-exact functional model.

- :mod:`eftrain.golden.reference`: every training op in torch autograd (what the math is).
- :mod:`eftrain.golden.engine`: the accelerator's arithmetic, bit for bit, in the hardware's
  order (what the RTL must produce). Its module documentation is the order contract.
- :mod:`eftrain.golden.layout`: the DRAM data layouts ("data reshaping").
"""
