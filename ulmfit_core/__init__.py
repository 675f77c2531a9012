"""ulmfit_core — ULMFiT (Howard & Ruder, ACL 2018, arXiv 1801.06146 v5) as a small PyTorch library.

The method, usable on its own: reading a user's CSV (:mod:`~ulmfit_core.usercsv`) and text corpora
(:mod:`~ulmfit_core.corpus`), tokenisation, vocabulary, the AWD-LSTM (:mod:`~ulmfit_core.awd_lstm`), the
training loop with discriminative rates, STLR and gradual unfreezing, the three stages
(:mod:`~ulmfit_core.pipeline`), the classifier, bidirectional ensembling, the linear baseline, pretrained
LMs by name (:mod:`~ulmfit_core.pretrained`) and the ``ulmfit`` command (:mod:`~ulmfit_core.cli`).

The replication of the paper's tables sits above it in :mod:`ulmfit_core.harness`, which imports the
library and is never imported by it.
"""

__version__ = "0.1.0"
