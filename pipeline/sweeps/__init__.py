"""Sweeps: many runs (models × protocols × conditions × splits) planned by one driver, scored by
workers (in this process, or Ray actors across GPUs and nodes), written into the cache by the driver."""
