"""Report: how a table, a sentence or a figure looks on a page (tables, verdict_tables, plan_tables,
plots, parameters).

See ARCHITECTURE.md for the stages and the order of their imports.
"""
