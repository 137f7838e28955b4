"""Models of the webhooks area."""
