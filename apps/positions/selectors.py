"""Reads of the positions app used by more than one caller."""
