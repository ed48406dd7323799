"""Reads of the reporting app used by more than one caller."""
