"""Client portal pages of the ledger app."""
