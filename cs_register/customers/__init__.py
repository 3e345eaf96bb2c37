"""Customers (the data subjects) and the rectification history of their data."""
