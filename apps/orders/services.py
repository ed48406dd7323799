"""Writes of the orders app: one function per business action, each in a transaction."""
