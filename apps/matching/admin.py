"""Back-office console for the matching app."""
