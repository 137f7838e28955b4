"""Models of the stats area."""
