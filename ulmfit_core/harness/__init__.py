"""The replication harness: everything that turns the library into the book's tables and figures.

The paper's datasets and their downloads (:mod:`~ulmfit_core.harness.datasets`), named scales, runs named by
the hash of their configuration and their records (:mod:`~ulmfit_core.harness.experiments`), one study per
table or figure, claim verdicts, the claims ledger, the paper's numbers (``paper_numbers.json``), packs of
token ids, the preflight, the notebook runner, the pretraining recipe and the publishing of its LMs, and the
machinery of GPU calls. It builds on :mod:`ulmfit_core` and is never imported by it.
"""
