"""Signals of the instruments app.

``corporate_action_processed(sender=CorporateAction, action_id=...)``: a corporate action
changed the books (dividend paid, split or symbol change applied). Sent after the processing
transaction commits, so receivers (price history, notifications, reports) see its effects.
"""

from django.dispatch import Signal

corporate_action_processed = Signal()
