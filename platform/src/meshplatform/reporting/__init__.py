"""Reporting: the closing summary of a build and the self-contained HTML report, both views over
the bookkeeping reads of ``warehouse`` (``meta``, ``results``); the report also draws the panels each
domain declares in its ``report.yml``, knowing no domain itself.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``, ``quality``.
"""
