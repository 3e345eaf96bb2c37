"""Machine clients (the PBX, the mail relay, the chatbot platform) and how they authenticate."""
