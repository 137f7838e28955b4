"""Models of the letters area."""
