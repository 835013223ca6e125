"""Storage: the async database handle, its transactions, and the repositories behind them."""

from .engine import Database
from .repositories import CertificateFilter, RevokedEntry, StoredCRL, Tx

__all__ = ["Database", "Tx", "CertificateFilter", "RevokedEntry", "StoredCRL"]
