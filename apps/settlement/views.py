"""Client portal pages of the settlement app."""
