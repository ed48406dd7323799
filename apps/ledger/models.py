"""Tables of the ledger app: double-entry books: journal entries, postings, balances, funding."""
