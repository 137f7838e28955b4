"""Mandatory mode: the business-flow gate a client cannot dismiss (standard 5.2.3)."""
