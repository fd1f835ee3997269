"""Exponential backoff with full jitter: a fleet of apps coming back online does not retry in step."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, at_least_s: float = 0.0) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...); `at_least_s`: Retry-After."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return max(at_least_s, self.rng.uniform(0, ceiling))
