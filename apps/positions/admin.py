"""Back-office console for the positions app."""
