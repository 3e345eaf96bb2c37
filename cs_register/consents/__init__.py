"""Consents and prohibitions: what a customer has allowed or forbidden (direct marketing first
of all), recorded by customer service and pulled by the marketing system."""
