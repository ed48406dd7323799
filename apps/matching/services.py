"""Writes of the matching app: one function per business action, each in a transaction."""
