"""Studies: one chapter's question each, computed from runs or from small float64 experiments.

See ARCHITECTURE.md for the stages and the order of their imports.
"""
