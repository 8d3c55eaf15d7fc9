"""Reporting: the closing summary of a build, the self-contained HTML report and the data product
catalogue (JSON + HTML with lineage), read from the contracts, the registry, ``mesh_meta`` and the
published products.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``, ``quality``.
"""
