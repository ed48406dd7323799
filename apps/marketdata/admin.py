"""Back-office console for the marketdata app."""
