"""Data-protection work: what the register holds about a person, found through the registry."""
