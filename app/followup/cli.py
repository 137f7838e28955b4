"""`flask` commands of the followup area."""
from flask import Flask


def register(app: Flask) -> None:
    """Attach this area's command groups to the app."""
