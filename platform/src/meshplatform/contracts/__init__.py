"""Data contracts (ODCS v3.1): the model every other room reads (``model``), and the checks run
in CI: lint against the standard, drift between contracts and dbt (product contracts vs public
models, inbound contracts vs dbt source tests: ``sources``), breaking changes against a git base
(``checks``, ``breaking``, ``gitbase``; their findings: ``findings``).

May import: ``config``, ``errors``, ``domains``, ``dbt`` (the checks parse the domain projects).
"""
