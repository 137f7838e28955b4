"""Models of the mandatory area."""
