"""Data quality: Great Expectations suites derived from the contracts, run against raw tables
and every published product version; outcomes are recorded in ``mesh_meta``.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``.
"""
