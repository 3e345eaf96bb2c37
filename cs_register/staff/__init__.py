"""Staff accounts, roles, login sessions."""
