"""Anonymised statistics: daily counts rolled up from the register, kept after the data goes."""
