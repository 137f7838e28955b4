"""Models of the jobs area."""
