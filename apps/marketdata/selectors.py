"""Reads of the marketdata app used by more than one caller."""
