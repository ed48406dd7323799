"""Back-office console for the settlement app."""
