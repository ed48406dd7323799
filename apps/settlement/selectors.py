"""Reads of the settlement app used by more than one caller."""
