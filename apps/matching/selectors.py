"""Reads of the matching app used by more than one caller."""
