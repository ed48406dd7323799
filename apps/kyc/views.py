"""Client portal pages of the kyc app."""
