"""Writes of the positions app: one function per business action, each in a transaction."""
