"""Contacts that arrive without an agent typing them in: the chatbot webhook (and email)."""
