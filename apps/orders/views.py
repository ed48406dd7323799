"""Client portal pages of the orders app."""
