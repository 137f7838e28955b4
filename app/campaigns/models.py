"""Models of the campaigns area."""
