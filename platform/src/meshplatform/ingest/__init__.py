"""Ingest: read an export file and validate it against its inbound contract (quarantining bad
rows), COPY it into a staging table, merge it into the raw table on the natural key, and record
it in the load ledger.

May import: ``config``, ``errors``, ``domains``, ``warehouse``, ``contracts.model``.
"""
