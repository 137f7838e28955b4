"""Models of the followup area."""
