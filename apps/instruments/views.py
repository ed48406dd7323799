"""Client portal pages of the instruments app."""
