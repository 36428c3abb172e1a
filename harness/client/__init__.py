"""Client library: tokens for synthetic users, and (to come) the realtime client."""

from __future__ import annotations

from ._tokens import Agent, Org, TokenFactory

__all__ = ["Agent", "Org", "TokenFactory"]
