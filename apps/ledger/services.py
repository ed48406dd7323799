"""Writes of the ledger app: one function per business action, each in a transaction."""
