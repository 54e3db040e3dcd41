"""Criterion checks, one module per kind: how a criterion of that kind is written, planned, scored
from evidence and restated for refinement (docs/architecture.md, "adding a check kind")."""
