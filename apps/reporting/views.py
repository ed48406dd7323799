"""Client portal pages of the reporting app."""
