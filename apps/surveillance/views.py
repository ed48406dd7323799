"""Client portal pages of the surveillance app."""
