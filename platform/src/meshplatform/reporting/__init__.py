"""Reporting: the closing summary of a build, the self-contained HTML report and the data product
catalogue (JSON + HTML with lineage). All are views over the bookkeeping reads of ``warehouse``
(``meta``, ``results``), the contracts and the registry; the report also draws the panels each
domain declares in its ``report.yml``, knowing no domain itself.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``, ``quality``.
"""
