"""Runs: a configuration becomes a results folder (config, runner), a grid file many (grid, executors,
cells, locks); folders are read back as tables (folders).

See ARCHITECTURE.md for the stages and the order of their imports.
"""
