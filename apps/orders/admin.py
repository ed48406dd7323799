"""Back-office console for the orders app."""
