"""Signals of the ledger.

``deposit_credited`` is sent inside the transaction that credits a client's cash from a bank
transfer (on receipt, or when staff assign a suspense deposit), with the deposit. Receivers
write in that same transaction, so what they record exists exactly when the credit does.
"""

from django.dispatch import Signal

deposit_credited = Signal()
