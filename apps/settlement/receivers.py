"""Signal receivers of the settlement app."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from apps.matching.signals import batch_committed
from apps.settlement import services

logger = logging.getLogger("bourse.settlement")


@receiver(batch_committed, dispatch_uid="settlement.good_faith_violations")
def detect_good_faith_violations(sender: Any, fills: Any = (), **kwargs: Any) -> None:
    """Regulation T at the sale's fill: a matching batch's sales that sold shares bought with
    unsettled proceeds. Never raises (the batch's other receivers must run); each settlement
    run looks again, so a miss here is caught at the day's end."""
    sells = [fill for fill in fills if fill.side == "sell"]
    if not sells:
        return
    try:
        services.gfv_detect(fills=sells)
    except Exception:
        logger.exception("good-faith violation check failed for %s sale fill(s)", len(sells))
