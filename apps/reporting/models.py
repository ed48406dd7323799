"""Tables of the reporting app: statements, confirmations, tax and regulatory reports."""
