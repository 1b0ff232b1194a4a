"""Bring-up steps of the accelerator on the ZCU102 (run them in order: ``NN_*.py``; each also runs
against the RTL simulation with ``--sim``). Shared code: :mod:`board.bringup._common`."""
