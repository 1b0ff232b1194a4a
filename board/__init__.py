"""Board bring-up of EF-Train: Vivado flow for the ZCU102 (``zcu102/``), the PYNQ driver
(``pynq/``) and the bring-up steps (``bringup/``)."""
