"""Client portal pages of the matching app."""
