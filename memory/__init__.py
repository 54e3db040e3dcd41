"""Persistent memory: traces, verdicts, the verdict cache and artifacts (SQLModel)."""

from scrutiny.memory.store import Store, StoreError, TraceFilter, default_home

__all__ = ["Store", "StoreError", "TraceFilter", "default_home"]
