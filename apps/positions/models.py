"""Tables of the positions app: positions, tax lots, cost basis, P&L, portfolio valuation."""
