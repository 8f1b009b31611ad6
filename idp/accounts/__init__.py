"""People and their accounts: the account service, passwords, throttling, forms, factors, recovery."""
