"""What a channel answers when asked to send one message: the shared vocabulary of all adapters."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class Outcome(enum.Enum):
    """The provider's answer to one send."""

    SENT = "sent"  # accepted by the provider (delivery may still fail; a receipt tells)
    INVALID = "invalid"  # the address or number is wrong or does not exist (空号/错号)
    REFUSED = "refused"  # the provider refused this message for good (blocked, bounced, policy)


@dataclass(frozen=True)
class SendResult:
    """One send's result: outcome, the provider's message id, the provider's code and text."""

    outcome: Outcome
    provider_id: Optional[str] = None
    code: Optional[str] = None
    message: Optional[str] = None


class TemporaryFailure(Exception):
    """A timeout, a 5xx or a throttle: try again later with backoff, then fall back."""

    def __init__(self, reason: str, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
