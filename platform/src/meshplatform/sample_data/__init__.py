"""Demo tooling, not platform runtime: the deterministic generator of realistic exports (with
ground truth) for the two sample domains. It knows their columns; nothing in the runtime imports it.

May import: ``errors``.
"""
