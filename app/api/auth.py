"""API-key authentication, shared by every blueprint under /api/v1."""
from __future__ import annotations

from flask import g, jsonify, request

from app.api.models import ApiKey
from app.api.service import find_api_key


def require_api_key():
    """Use as a blueprint's before_request: 401 unless a valid key is presented; sets g.api_key."""
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    key = find_api_key(presented) if presented else None
    if key is None:
        response = jsonify({"error": {"status": 401, "message": "missing or unknown API key"}})
        response.headers["WWW-Authenticate"] = 'Bearer realm="huifang"'
        return response, 401
    g.api_key = key
    return None


def current_api_key() -> ApiKey:
    """The key of the calling system (after require_api_key)."""
    return g.api_key


def actor() -> str:
    """The calling system as it appears in the audit log."""
    return g.api_key.actor
