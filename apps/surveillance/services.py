"""Writes of the surveillance app: one function per business action, each in a transaction."""
