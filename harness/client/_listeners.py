"""`PayloadListener`: what a client received, handed to whoever listens as it arrives.

The conformance suite installs one that validates every payload against the spec's schemas;
a client with no listener pays nothing. A listener must not raise and must be quick: it runs
in the client's receive path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._messages import Ack, ReceivedEvent
    from ._rest import RestResponse

__all__ = ["PayloadListener"]


class PayloadListener(Protocol):
    def event_received(self, event: ReceivedEvent) -> None:
        """A server→client event (live or replayed)."""

    def ack_received(self, ack: Ack) -> None:
        """The ack of a client event (not called for one that timed out)."""

    def response_received(self, response: RestResponse) -> None:
        """A REST answer."""
