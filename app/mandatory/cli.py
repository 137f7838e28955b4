"""`flask` commands of the mandatory area."""
from flask import Flask


def register(app: Flask) -> None:
    """Attach this area's command groups to the app."""
