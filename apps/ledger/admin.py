"""Back-office console for the ledger app."""
