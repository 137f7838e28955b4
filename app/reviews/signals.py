"""Signals other areas subscribe to, so the core does not import them (outbox, campaigns)."""
from blinker import Namespace

_signals = Namespace()

# Sent inside the submitting transaction, after the response, registration and exceptions are
# flushed: receivers write their own rows (e.g. an outbox event) in the same transaction, so a
# crash loses either everything or nothing. Arguments: sender=Response, invitation=Invitation.
response_stored = _signals.signal("response-stored")
