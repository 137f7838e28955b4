"""Staff accounts, login and role checks (standard 7.4)."""
