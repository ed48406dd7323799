"""Writes of the marketdata app: one function per business action, each in a transaction."""
