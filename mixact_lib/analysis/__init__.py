"""Analysis: run folders become tables, intervals, tests and verdicts (results, stats, reproduction,
analysis_plan, rank_tests).

See ARCHITECTURE.md for the stages and the order of their imports.
"""
