"""Signals of the orders app.

``order_changed(sender=Order, orders=[...])``: orders changed state or quantities (intake,
cancel, replace, expiry, fills). Sent inside the transaction that changed them; receivers
that push to clients do so on commit.
"""

from django.dispatch import Signal

order_changed = Signal()
