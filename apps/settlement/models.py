"""Tables of the settlement app: T+n settlement instructions, netting, settlement runs, fails."""
