"""dbt: running a domain's dbt project with its own profile, publishing its manifest to the
registry that dbt-loom reads, and comparing dbt state for breaking-change checks.

May import: ``config``, ``errors``, ``domains``, ``warehouse``.
"""
