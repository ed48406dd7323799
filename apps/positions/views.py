"""Client portal pages of the positions app."""
