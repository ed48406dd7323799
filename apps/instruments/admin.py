"""Back-office console for the instruments app."""
