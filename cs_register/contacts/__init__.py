"""Customer contacts by email, phone and chatbot, and the identity checks made on them."""
