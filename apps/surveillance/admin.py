"""Back-office console for the surveillance app."""
