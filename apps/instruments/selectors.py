"""Reads of the instruments app used by more than one caller."""
