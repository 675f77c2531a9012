"""ulmfit_core — a replication of ULMFiT (Howard & Ruder, ACL 2018, arXiv 1801.06146 v5)."""

__version__ = "0.1.0"
