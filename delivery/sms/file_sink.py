"""The embedded default: SMS written as JSON lines to a file (or the console) instead of a provider."""
from __future__ import annotations

import json
import os
import sys
import threading
from typing import Optional

from delivery.outcome import Outcome, SendResult
from delivery.sms.base import Receipt, SmsMessage, SmsProvider, json_or_none


class FileSink(SmsProvider):
    """Appends one JSON line per message; path '-' prints to the console.

    The file is the sink's record, so after a crash it can tell whether a key was already
    written (lookup) and a resend never writes a message twice.
    """

    name = "file"
    deduplicates = True

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._handle = None

    def _file(self):
        if self._handle is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for speed
        return self._handle

    def send(self, message: SmsMessage) -> SendResult:
        """Write the message; its key is its provider id."""
        line = json.dumps({"id": message.idempotency_key, "to": message.to, "text": message.text},
                          ensure_ascii=False)
        if self.path == "-":
            print(line, file=sys.stdout, flush=True)
        else:
            with self._lock:
                handle = self._file()
                handle.write(line + "\n")
                handle.flush()
        return SendResult(Outcome.SENT, provider_id=message.idempotency_key, code="written")

    def lookup(self, idempotency_key: str) -> Optional[str]:
        """The key itself when a line with it is in the file (read only when recovering)."""
        if self.path == "-" or not os.path.exists(self.path):
            return None
        needle = json.dumps(idempotency_key)
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if needle in line and (json_or_none(line.encode()) or {}).get("id") == idempotency_key:
                    return idempotency_key
        return None

    def parse_receipts(self, body: bytes) -> list[Receipt]:
        """Same shape as the generic gateway's (useful in demos)."""
        from delivery.sms.http_json import parse_generic_receipts

        return parse_generic_receipts(body)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
