"""Writes of the reporting app: one function per business action, each in a transaction."""
