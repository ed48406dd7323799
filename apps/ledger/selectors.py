"""Reads of the ledger app used by more than one caller."""
