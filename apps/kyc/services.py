"""Writes of the kyc app: one function per business action, each in a transaction."""
