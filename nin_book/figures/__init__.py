"""The book's matplotlib figures, one module per subject: ``conv`` (chapters 1–2), ``tracing`` (chapter 3),
``compare`` (chapter 4), ``eval`` (chapter 5: training runs and their errors), ``maps`` (chapter 6: class
confidence maps), ``experiments`` (chapter 7: the paper's claims across seeds, and the stall). Drawing only:
every number comes from the pure functions in ``nin_book``.
"""
