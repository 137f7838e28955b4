"""Signed callbacks (Standard Webhooks) delivered at least once from the outbox."""
