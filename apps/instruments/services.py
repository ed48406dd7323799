"""Writes of the instruments app: one function per business action, each in a transaction."""
