"""How long a user refused SERVER_BUSY (LIM-6) stays away before it asks again.

The refusal's `retryAfterMs` is the least wait (the server knows its own overload: a pacing
server sizes it from how many it refuses). On top, the way Socket.IO clients back off their
reconnects (socket.io-client's `reconnectionDelay` doubling up to `reconnectionDelayMax`,
spread by `randomizationFactor`): each refusal in a row doubles a step from `first_s` up to
`max_s`, and the wait, the larger of the two, is stretched by a random share up to `jitter`.
So a crowd refused together does not come back together, and a node that keeps refusing is
asked less and less often, whatever retryAfterMs it names.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["BusyBackoff"]

# A retryAfterMs honoured within these bounds: no server makes a user spin, or sleep
# through a whole run.
_RETRY_AFTER_MIN_S, _RETRY_AFTER_MAX_S = 0.05, 60.0


@dataclass(frozen=True, slots=True)
class BusyBackoff:
    first_s: float = 1.0  # the step after the first refusal
    max_s: float = 60.0  # the step grows no further
    jitter: float = 0.5  # the wait is stretched by a random share in [0, jitter)

    def __post_init__(self) -> None:
        if not (0 < self.first_s <= self.max_s) or not 0 <= self.jitter <= 1:
            raise ValueError("busy back-off: 0 < first_s ≤ max_s and 0 ≤ jitter ≤ 1")

    def step_s(self, refusals: int) -> float:
        """The exponential step after `refusals` refusals in a row (1 = the first)."""
        return min(self.max_s, self.first_s * 2.0 ** max(0, refusals - 1))

    def wait_s(self, retry_after_ms: float | None, refusals: int, rng: random.Random) -> float:
        """Seconds to stay away after the `refusals`-th refusal in a row, which asked for
        `retry_after_ms` (None or NaN: it named none)."""
        least = 0.0
        if retry_after_ms is not None and not math.isnan(retry_after_ms):
            least = min(_RETRY_AFTER_MAX_S, max(_RETRY_AFTER_MIN_S, retry_after_ms / 1000.0))
        return max(least, self.step_s(refusals)) * (1.0 + self.jitter * rng.random())
