"""cs-register: the customer-service contact register and its recording lifecycle."""
