"""Locust scenarios: run them with `crm-harness load --scenario NAME` (see README, Load tests)."""

from __future__ import annotations

__all__: list[str] = []
