"""Signals of the matching app.

``batch_committed(sender=BookState, instrument, trades, fills, orders, depth)``: a matching
batch committed. ``trades`` and ``fills`` are the saved rows, ``orders`` every order the batch
changed, ``depth`` the book's `Depth` after it. Sent after commit: receivers publish market
data, push order updates and notify clients; a receiver that fails is logged, never undoes
the batch.
"""

from django.dispatch import Signal

batch_committed = Signal()
