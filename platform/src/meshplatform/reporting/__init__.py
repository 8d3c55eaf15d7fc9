"""Reporting: the closing summary of a build and the self-contained HTML report, both read from
``mesh_meta`` and the published products.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``, ``quality``.
"""
