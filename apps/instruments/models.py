"""Tables of the instruments app:
instruments, trading calendars and sessions, halts, corporate-action records.
"""
