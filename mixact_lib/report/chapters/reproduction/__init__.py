"""What the reproduction chapter (``book/reproduction.ipynb``) prints: its tables and sentences, one module per part
of the chapter, in the chapter's order:

- :mod:`.overview`: where the committed runs are, and how a verdict is reached (how wide an interval is);
- :mod:`.paper_c`: paper C's Table 1, its ordering claims, the epoch chosen on the test set, the matched-compute
  controls, and what AdAct learns for x < 0;
- :mod:`.paper_a`: paper A's Table 1 and claims, its learned weights, its cycles, and the learning-rate study;
- :mod:`.conclusions`: paper B's numbers, all verdicts, and what the data decide.

Each public function returns the *parts* one cell shows, in order: a ``str`` is Markdown, anything else is a
table from :func:`mixact_lib.report.tables.show_table`. Functions whose numbers the chapter's prose quotes
(``{glue:text}``) return ``(parts, glued)``, ``glued`` mapping each glue name to its value. Where a cell used to
write a CSV next to its figures, the function writes it into ``out`` (the chapter's results folder) when given.

Verdicts are never decided here: a paper number's comes from :mod:`mixact_lib.analysis.reproduction`, a planned
claim's from :mod:`mixact_lib.analysis.analysis_plan`, and a family of paired differences shown with verdicts
(paper A's learning-rate study, AdAct's slopes against Optimized's α) from
:func:`mixact_lib.analysis.rank_tests.corrected_verdicts`, Holm-corrected over the rows of its table
(:data:`.overview.ADJUSTMENT`).
"""
