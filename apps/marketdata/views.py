"""Client portal pages of the marketdata app."""
