"""Durable background jobs (the outbox) and the worker that runs them."""
