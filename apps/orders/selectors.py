"""Reads of the orders app used by more than one caller."""
