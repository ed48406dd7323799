"""Reads of the surveillance app used by more than one caller."""
