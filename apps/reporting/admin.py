"""Back-office console for the reporting app."""
