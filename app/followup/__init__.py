"""Exceptions (8.4) followed to closure, objections (8.3.3), quality inspection."""
