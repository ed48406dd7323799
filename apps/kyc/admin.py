"""Back-office console for the kyc app."""
