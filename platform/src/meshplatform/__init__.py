"""Shared platform of the data mesh: what every domain uses, knowing none of them."""

__version__ = "0.1.0"
