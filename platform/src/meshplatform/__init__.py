"""Shared platform of the withdrawals data mesh."""

__version__ = "0.1.0"
