"""Locust scenarios: run them with `crm-harness load --scenario NAME` (see docs/load.md)."""

from __future__ import annotations

__all__: list[str] = []
