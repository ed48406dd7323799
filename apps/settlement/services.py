"""Writes of the settlement app: one function per business action, each in a transaction."""
