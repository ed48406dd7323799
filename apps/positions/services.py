"""Writes of the positions app: what fills, transfers and settlement change in positions and tax
lots, and the nightly reconciliation against the ledger.

:func:`positions_apply` is called by the matching pipeline inside its batch transaction with
every fill of the batch; it locks the positions it touches (in (account, instrument) order),
changes them in memory and writes them back in bulk.

Lot relief: FIFO unless the account chose LIFO, HIFO (highest cost per share first) or specific
lots (the sell order's ``lot_ids``, then FIFO for any rest). A relieved lot gives up its cost in
proportion; the gain is the proceeds (net of the fee) less that cost, long term when the lot was
held more than a year.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from apps.accounts.choices import LotReliefMethod
from apps.core.bulk import update_rows
from apps.ledger.models import LedgerAccount
from apps.positions.models import (
    GainTerm,
    LotRelief,
    LotSource,
    Position,
    ReconciliationBreak,
    TaxLot,
)

ZERO = Decimal(0)
CENT8 = Decimal("0.00000001")
LONG_TERM_AFTER = dt.timedelta(days=365)


@dataclass(frozen=True)
class PositionChange:
    """One fill (or transfer) as a position sees it. ``amount`` is the cash it cost a buyer
    (fees included) or brought a seller (fees deducted)."""

    account_id: int
    instrument_id: int
    side: str  # "buy" or "sell"
    quantity: Decimal
    amount: Decimal
    on: dt.date
    reference: str = ""
    fill_id: int | None = None
    lot_ids: Sequence[int] = ()
    lot_method: str = LotReliefMethod.FIFO
    source: str = LotSource.TRADE


@dataclass
class _Book:
    position: Position
    lots: list[TaxLot]
    new_lots: list[TaxLot] = field(default_factory=list)
    reliefs: list[LotRelief] = field(default_factory=list)


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT8, rounding=ROUND_HALF_UP)


def _relief_order(lots: list[TaxLot], method: str, lot_ids: Sequence[int]) -> list[TaxLot]:
    open_lots = [lot for lot in lots if lot.quantity > 0]
    if method == LotReliefMethod.LIFO:
        ordered = sorted(open_lots, key=lambda lot: (lot.acquired_on, lot.pk or 0), reverse=True)
    elif method == LotReliefMethod.HIFO:
        ordered = sorted(open_lots, key=lambda lot: (-lot.cost_per_share, lot.acquired_on))
    else:
        ordered = sorted(open_lots, key=lambda lot: (lot.acquired_on, lot.pk or 0))
    if lot_ids:
        chosen = {int(i) for i in lot_ids}
        ordered = [lot for lot in ordered if lot.pk in chosen] + [
            lot for lot in ordered if lot.pk not in chosen
        ]
    return ordered


def _buy(book: _Book, change: PositionChange) -> None:
    lot = TaxLot(
        position=book.position,
        acquired_on=change.on,
        original_quantity=change.quantity,
        quantity=change.quantity,
        cost=change.amount,
        source=change.source,
        source_reference=change.reference,
    )
    book.lots.append(lot)
    book.new_lots.append(lot)
    position = book.position
    position.quantity += change.quantity
    position.cost_basis += change.amount


def _sell(book: _Book, change: PositionChange) -> None:
    position = book.position
    left, proceeds_left = change.quantity, change.amount
    for lot in _relief_order(book.lots, change.lot_method, change.lot_ids):
        if left <= 0:
            break
        take = min(left, lot.quantity)
        cost = lot.cost if take == lot.quantity else _q(lot.cost * take / lot.quantity)
        proceeds = proceeds_left if take == left else _q(proceeds_left * take / left)
        gain = proceeds - cost
        term = GainTerm.LONG if change.on - lot.acquired_on > LONG_TERM_AFTER else GainTerm.SHORT
        lot.quantity -= take
        lot.cost -= cost
        book.reliefs.append(
            LotRelief(
                lot=lot,
                position=position,
                fill_id=change.fill_id,
                reference=change.reference,
                sold_on=change.on,
                quantity=take,
                cost=cost,
                proceeds=proceeds,
                gain=gain,
                term=term,
            )
        )
        if term == GainTerm.LONG:
            position.realized_long_term += gain
        else:
            position.realized_short_term += gain
        position.realized_pnl += gain
        position.cost_basis -= cost
        left -= take
        proceeds_left -= proceeds
    if left > 0:
        raise ValueError(
            f"position {position.account_id}/{position.instrument_id} has no lots for {left}"
        )
    position.quantity -= change.quantity


def _average(position: Position) -> None:
    position.average_cost = (
        _q(position.cost_basis / position.quantity) if position.quantity else ZERO
    )
    if not position.quantity:
        position.cost_basis = ZERO


def positions_apply(*, changes: Sequence[PositionChange]) -> None:
    """Apply fills (or transfers in) to positions and tax lots, in order, in bulk. Call inside
    the transaction that posts their ledger entries."""
    if not changes:
        return
    keys = sorted({(c.account_id, c.instrument_id) for c in changes})
    with transaction.atomic():
        books = _load(keys)
        for change in changes:
            book = books[(change.account_id, change.instrument_id)]
            if change.side == "buy":
                _buy(book, change)
            else:
                _sell(book, change)
        _save(books.values())


def _load(keys: list[tuple[int, int]]) -> dict[tuple[int, int], _Book]:
    accounts = {a for a, _ in keys}
    instruments = {i for _, i in keys}
    existing = {
        (p.account_id, p.instrument_id): p
        for p in Position.objects.select_for_update()
        .filter(account_id__in=accounts, instrument_id__in=instruments)
        .order_by("account_id", "instrument_id")
    }
    missing = [Position(account_id=a, instrument_id=i) for a, i in keys if (a, i) not in existing]
    if missing:
        Position.objects.bulk_create(missing, ignore_conflicts=True)
        for p in (
            Position.objects.select_for_update()
            .filter(account_id__in=accounts, instrument_id__in=instruments)
            .order_by("account_id", "instrument_id")
        ):
            existing.setdefault((p.account_id, p.instrument_id), p)
    lots: dict[int, list[TaxLot]] = defaultdict(list)
    ids = [existing[k].pk for k in keys]
    for lot in TaxLot.objects.filter(position_id__in=ids, quantity__gt=0).order_by(
        "acquired_on", "pk"
    ):
        lots[lot.position_id].append(lot)
    return {k: _Book(position=existing[k], lots=lots[existing[k].pk]) for k in keys}


def _save(books: Iterable[_Book]) -> None:
    books = list(books)
    now = timezone.now()
    positions = []
    for book in books:
        _average(book.position)
        book.position.updated_at = now
        positions.append(book.position)
    update_rows(
        Position,
        positions,
        [
            "quantity",
            "cost_basis",
            "average_cost",
            "realized_pnl",
            "realized_short_term",
            "realized_long_term",
            "updated_at",
        ],
    )
    # Lots that existed before the batch and gave up shares in it (new lots are inserted
    # with their final values).
    relieved = {id(r.lot): r.lot for book in books for r in book.reliefs if r.lot.pk is not None}
    new_lots = [lot for book in books for lot in book.new_lots]
    TaxLot.objects.bulk_create(new_lots)
    update_rows(TaxLot, list(relieved.values()), ["quantity", "cost"])
    # Lots created and partly relieved in the same batch were saved with their final values.
    reliefs = [r for book in books for r in book.reliefs]
    for relief in reliefs:
        relief.lot_id = relief.lot.pk
    LotRelief.objects.bulk_create(reliefs)


def positions_settle(*, quantities: dict[tuple[int, int], Decimal]) -> None:
    """Add settled quantities ((account id, instrument id) -> signed quantity) after a
    settlement run moved those shares from unsettled to settled."""
    if not quantities:
        return
    with transaction.atomic():
        keys = sorted(quantities)
        positions = {
            (p.account_id, p.instrument_id): p
            for p in Position.objects.select_for_update()
            .filter(account_id__in={a for a, _ in keys}, instrument_id__in={i for _, i in keys})
            .order_by("account_id", "instrument_id")
        }
        for key in keys:
            position = positions.get(key)
            if position is not None:
                position.settled_quantity += quantities[key]
        update_rows(Position, list(positions.values()), ["settled_quantity"])


def positions_reconcile(*, now: dt.datetime | None = None) -> list[ReconciliationBreak]:
    """Compare every position with the ledger and record each difference as a break for ops.

    Two checks per (account, instrument): the position's quantity equals the ledger's
    securities across buckets (settled + unsettled + reserved: the trade-date holding); and its
    settled quantity (the settlement-date holding) equals that less the shares still to be
    received, plus the shares still to be delivered, by pending or failed settlement
    instructions. Returns the breaks found (also saved)."""
    from django.apps import apps
    from django.db.models import Sum

    now = now or timezone.now()
    ledger: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    rows = LedgerAccount.objects.filter(owner__isnull=False, instrument__isnull=False).values_list(
        "owner_id", "instrument_id", "balance"
    )
    for owner_id, instrument_id, balance in rows:
        ledger[(owner_id, instrument_id)] += balance
    instruction = apps.get_model("settlement", "SettlementInstruction")
    pending = {
        (r["account_id"], r["instrument_id"]): r["quantity"]
        for r in instruction.objects.filter(status__in=["pending", "failed"])
        .values("account_id", "instrument_id")
        .annotate(quantity=Sum("quantity"))
    }
    positions = {
        (p.account_id, p.instrument_id): p
        for p in Position.objects.only(
            "account_id", "instrument_id", "quantity", "settled_quantity"
        )
    }
    breaks = []
    for key in sorted(set(ledger) | set(positions)):
        position = positions.get(key)
        total = ledger.get(key, ZERO)
        expected_settled = total - pending.get(key, ZERO)
        quantity = position.quantity if position else ZERO
        settled = position.settled_quantity if position else ZERO
        if quantity != total or settled != expected_settled:
            breaks.append(
                ReconciliationBreak(
                    run_at=now,
                    account_id=key[0],
                    instrument_id=key[1],
                    position_quantity=quantity,
                    ledger_quantity=total,
                    position_settled=settled,
                    ledger_settled=expected_settled,
                )
            )
    # A difference already listed and not yet resolved is not listed again.
    open_breaks = {
        (
            b.account_id,
            b.instrument_id,
            b.position_quantity,
            b.ledger_quantity,
            b.position_settled,
            b.ledger_settled,
        )
        for b in ReconciliationBreak.objects.filter(resolved_at__isnull=True)
    }
    ReconciliationBreak.objects.bulk_create(
        [
            b
            for b in breaks
            if (
                b.account_id,
                b.instrument_id,
                b.position_quantity,
                b.ledger_quantity,
                b.position_settled,
                b.ledger_settled,
            )
            not in open_breaks
        ]
    )
    return breaks


def reconciliation_break_resolve(
    *, item: ReconciliationBreak, actor, resolution: str
) -> ReconciliationBreak:
    from apps.core.audit import stamp
    from apps.core.errors import invalid

    if not (resolution or "").strip():
        raise invalid("Say how the break was resolved.", resolution="Required.")
    with transaction.atomic():
        item = ReconciliationBreak.objects.select_for_update().get(pk=item.pk)
        item.resolved_at = timezone.now()
        item.resolution = resolution.strip()
        stamp(item, actor=actor, reason=resolution)
        item.save()
    return item


# --- Securities transfers in ----------------------------------------------------------------
# Shares arriving free of payment (ACATS and the like): custody's shares become the client's
# settled shares with a tax lot at the reported cost basis and acquisition date. Worth more
# than SECURITIES_TRANSFER_FOUR_EYES_VALUE, a transfer waits for a second staff member.


def securities_transfer_four_eyes_value(currency: str) -> Decimal:
    """The value above which a transfer in ``currency`` needs a second staff member."""
    from django.conf import settings

    values = settings.SECURITIES_TRANSFER_FOUR_EYES_VALUE
    return Decimal(str(values.get(currency, values["*"])))


def securities_transfer_request(
    *,
    account,
    instrument,
    quantity: Decimal,
    cost_basis: Decimal,
    acquired_on: dt.date,
    reason: str,
    actor,
    external_reference: str = "",
    idempotency_key: str | None = None,
    enforce_permission: bool = True,
):
    """Staff record shares arriving in ``account``: ``quantity`` of ``instrument`` that cost
    ``cost_basis`` per share, acquired on ``acquired_on``.

    Worth at most SECURITIES_TRANSFER_FOUR_EYES_VALUE, it is applied at once; above, it waits
    in ``pending_approval`` for a different staff member (:func:`securities_transfer_approve`).
    The same ``idempotency_key`` from the same staff member returns the first transfer.
    Raises ``permission_denied`` (needs ``positions.add_securitiestransfer``), ``invalid``
    (quantity off the lot step, negative cost, a future date, another currency, no reason) and
    ``invalid_state`` (a closed account).
    """
    from django.db import IntegrityError

    from apps.accounts.choices import AccountStatus
    from apps.core.audit import stamp
    from apps.core.errors import invalid, invalid_state, permission_denied
    from apps.ledger.money import minor_unit
    from apps.positions.models import SecuritiesTransfer

    reason = (reason or "").strip()
    if enforce_permission and not (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.has_perm("positions.add_securitiestransfer")
    ):
        raise permission_denied("Your role may not record securities transfers.")
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Say why the shares arrive (e.g. the delivering broker)."
    if quantity is None or quantity <= 0:
        errors["quantity"] = "The quantity must be positive."
    elif not instrument.is_on_lot(quantity) or quantity != _q(quantity):
        errors["quantity"] = f"Quantities go in steps of {instrument.lot_size.normalize():f}."
    if cost_basis is None or cost_basis < 0:
        errors["cost_basis"] = "The cost per share can't be negative."
    elif cost_basis != _q(cost_basis):
        errors["cost_basis"] = "At most 8 decimal places."
    if acquired_on is None or acquired_on > timezone.localdate():
        errors["acquired_on"] = "The acquisition date can't be in the future."
    if instrument.currency != account.currency:
        errors["account"] = (
            f"{instrument.symbol} is in {instrument.currency}; "
            f"account {account.number} holds {account.currency}."
        )
    if errors:
        raise invalid("The transfer is not valid.", **errors)
    if account.status == AccountStatus.CLOSED:
        raise invalid_state(f"Account {account.number} is closed.", account_status=account.status)
    if idempotency_key:
        first = SecuritiesTransfer.objects.filter(
            requested_by=actor, idempotency_key=idempotency_key
        ).first()
        if first is not None:
            return first
    cost = (quantity * cost_basis).quantize(minor_unit(instrument.currency), ROUND_HALF_UP)
    try:
        with transaction.atomic():
            transfer = SecuritiesTransfer(
                account=account,
                instrument=instrument,
                quantity=quantity,
                cost_basis=cost_basis,
                cost=cost,
                acquired_on=acquired_on,
                reason=reason,
                external_reference=(external_reference or "").strip(),
                requested_by=actor,
                idempotency_key=idempotency_key or None,
            )
            stamp(transfer, actor=actor, reason=reason)
            transfer.save()
            if cost <= securities_transfer_four_eyes_value(instrument.currency):
                _securities_transfer_apply(
                    transfer, actor=actor, reason="Within the single-approval value"
                )
    except IntegrityError:
        if idempotency_key:
            return SecuritiesTransfer.objects.get(
                requested_by=actor, idempotency_key=idempotency_key
            )
        raise
    return transfer


def _securities_transfer_locked(transfer):
    from apps.core.errors import invalid_state
    from apps.positions.models import SecuritiesTransfer, TransferStatus

    transfer = (
        SecuritiesTransfer.objects.select_for_update()
        .select_related("account", "instrument")
        .get(pk=transfer.pk)
    )
    if transfer.status != TransferStatus.PENDING_APPROVAL:
        raise invalid_state(
            f"Transfer {transfer.pk} is already {transfer.status.replace('_', ' ')}.",
            status=transfer.status,
        )
    return transfer


def _securities_transfer_apply(transfer, *, actor, reason: str) -> None:
    """Post the transfer (custody -> client settled shares), open its tax lot and count the
    shares as settled, in the caller's transaction."""
    from apps.core.audit import stamp
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.services import journal_post, ledger_account_get

    account, instrument = transfer.account, transfer.instrument
    entry = journal_post(
        kind="securities_transfer",
        postings=[
            (
                ledger_account_get(
                    house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
                ),
                -transfer.quantity,
            ),
            (
                ledger_account_get(owner=account, instrument=instrument, bucket=Bucket.SETTLED),
                transfer.quantity,
            ),
        ],
        memo=f"Transfer in of {transfer.quantity.normalize():f} {instrument.symbol}: "
        f"{transfer.reason}",
        actor=actor,
        idempotency_key=f"securities_transfer:{transfer.pk}",
        reference=transfer.ledger_reference,
    )
    positions_apply(
        changes=[
            PositionChange(
                account_id=account.pk,
                instrument_id=instrument.pk,
                side="buy",
                quantity=transfer.quantity,
                amount=transfer.cost,
                on=transfer.acquired_on,
                reference=transfer.ledger_reference,
                source=LotSource.TRANSFER_IN,
            )
        ]
    )
    positions_settle(quantities={(account.pk, instrument.pk): transfer.quantity})
    transfer.apply()
    transfer.journal_entry_id = entry.pk
    transfer.lot = (
        TaxLot.objects.filter(
            position__account=account,
            position__instrument=instrument,
            source_reference=transfer.ledger_reference,
        )
        .order_by("-pk")
        .first()
    )
    if transfer.decided_by_id is None:
        transfer.decided_by = actor if getattr(actor, "pk", None) else None
    transfer.decided_at = timezone.now()
    transfer.decision_reason = reason
    stamp(transfer, actor=actor, reason=reason)
    transfer.save()


def securities_transfer_approve(
    *, transfer, actor, reason: str = "", enforce_permission: bool = True
):
    """A second staff member approves a pending transfer: it is posted to the ledger and the
    position in one transaction. The requester can't approve their own
    (``permission_denied``); a transfer no longer pending is ``invalid_state``."""
    from apps.core.errors import permission_denied

    if enforce_permission and not (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.has_perm("positions.approve_securitiestransfer")
    ):
        raise permission_denied("Your role may not approve securities transfers.")
    with transaction.atomic():
        transfer = _securities_transfer_locked(transfer)
        if transfer.requested_by_id == getattr(actor, "pk", None):
            raise permission_denied(
                "You requested this transfer; a different staff member must approve it."
            )
        transfer.decided_by = actor
        _securities_transfer_apply(
            transfer, actor=actor, reason=(reason or "").strip() or "Approved"
        )
    return transfer


def securities_transfer_reject(*, transfer, actor, reason: str, enforce_permission: bool = True):
    """Refuse a pending transfer; nothing is posted. Its requester may withdraw it this way;
    anyone else needs ``positions.approve_securitiestransfer``."""
    from apps.core.audit import stamp
    from apps.core.errors import invalid, permission_denied

    reason = (reason or "").strip()
    if not reason:
        raise invalid("A reason is required.", reason="This field is required.")
    if (
        enforce_permission
        and getattr(actor, "pk", None) != transfer.requested_by_id
        and not (actor is not None and actor.has_perm("positions.approve_securitiestransfer"))
    ):
        raise permission_denied("Your role may not reject securities transfers.")
    with transaction.atomic():
        transfer = _securities_transfer_locked(transfer)
        transfer.reject()
        transfer.decided_by = actor
        transfer.decided_at = timezone.now()
        transfer.decision_reason = reason
        stamp(transfer, actor=actor, reason=reason)
        transfer.save()
    return transfer


# --- Reversing fills (trade busts and corrections) -------------------------------------------
# A busted trade never happened: the buyer's tax lot from that fill goes away and the seller's
# relieved lots get their shares and cost back, with the realized gain undone. Settled
# quantities don't change: a trade is busted only before it settles.


@dataclass(frozen=True)
class FillReversal:
    """One fill to undo, as :func:`positions_apply` recorded it (lots by ``FILL-<id>``,
    reliefs by ``fill_id``)."""

    account_id: int
    instrument_id: int
    side: str  # "buy" or "sell"
    quantity: Decimal
    fill_id: int


def positions_reverse_fills(
    *, reversals: Sequence[FillReversal], actor=None, reason: str = ""
) -> list[Position]:
    """Undo fills' effects on positions and tax lots, in the caller's transaction.

    A buy's lot must still be whole (none of it sold since): otherwise ``insufficient_position``
    (bust the later sale first). A sell's reliefs are given back to their lots with their cost
    and their gain taken off realized P&L. Returns the positions changed.
    """
    from apps.core.audit import stamp
    from apps.core.errors import ApplicationError, ErrorCode, invalid_state

    if not reversals:
        return []
    keys = sorted({(r.account_id, r.instrument_id) for r in reversals})
    with transaction.atomic():
        positions = {
            (p.account_id, p.instrument_id): p
            for p in Position.objects.select_for_update(of=("self",))
            .select_related("account", "instrument")
            .filter(account_id__in={a for a, _ in keys}, instrument_id__in={i for _, i in keys})
            .order_by("account_id", "instrument_id")
            if (p.account_id, p.instrument_id) in set(keys)
        }
        for reversal in reversals:
            position = positions.get((reversal.account_id, reversal.instrument_id))
            if position is None:
                raise invalid_state(
                    f"Account {reversal.account_id} has no position in instrument "
                    f"{reversal.instrument_id} to reverse fill {reversal.fill_id} from.",
                    fill_id=reversal.fill_id,
                )
            if reversal.side == "buy":
                lot = (
                    TaxLot.objects.select_for_update()
                    .filter(position=position, source_reference=f"FILL-{reversal.fill_id}")
                    .first()
                )
                if lot is None:
                    raise invalid_state(
                        f"No tax lot of fill {reversal.fill_id}.", fill_id=reversal.fill_id
                    )
                if (
                    lot.quantity != lot.original_quantity
                    or lot.quantity != reversal.quantity
                    or lot.reliefs.exists()
                ):
                    raise ApplicationError(
                        ErrorCode.INSUFFICIENT_POSITION,
                        f"Account {position.account.number} has since sold "
                        f"{(lot.original_quantity - lot.quantity).normalize():f} of the "
                        f"{lot.original_quantity.normalize():f} {position.instrument.symbol} "
                        "bought in this trade; bust that sale first.",
                        {
                            "account": position.account.number,
                            "lot": lot.pk,
                            "open_quantity": f"{lot.quantity:f}",
                            "bought": f"{lot.original_quantity:f}",
                        },
                    )
                position.quantity -= lot.quantity
                lot.delete()
            else:
                reliefs = list(
                    LotRelief.objects.select_for_update()
                    .select_related("lot")
                    .filter(position=position, fill_id=reversal.fill_id)
                    .order_by("pk")
                )
                if sum((r.quantity for r in reliefs), ZERO) != reversal.quantity:
                    raise invalid_state(
                        f"The lot reliefs of fill {reversal.fill_id} don't add up to its "
                        "quantity; the position needs a look before the bust.",
                        fill_id=reversal.fill_id,
                    )
                for relief in reliefs:
                    lot = TaxLot.objects.select_for_update().get(pk=relief.lot_id)
                    lot.quantity += relief.quantity
                    lot.cost += relief.cost
                    lot.save(update_fields=["quantity", "cost"])
                    if relief.term == GainTerm.LONG:
                        position.realized_long_term -= relief.gain
                    else:
                        position.realized_short_term -= relief.gain
                    position.realized_pnl -= relief.gain
                    position.quantity += relief.quantity
                    relief.delete()
        for position in positions.values():
            position.cost_basis = sum(
                TaxLot.objects.filter(position=position, quantity__gt=0).values_list(
                    "cost", flat=True
                ),
                ZERO,
            )
            _average(position)
            stamp(position, actor=actor, reason=reason)
            position.save()
    return list(positions.values())


# --- Splits (corporate actions) -------------------------------------------------------------
# A split multiplies every open lot's quantity by the ratio and keeps its cost, so the cost per
# share divides by the ratio and the position's cost basis is unchanged. A fraction of a share
# left over is sold for cash in lieu: it comes out of the lots holding fractions of a lot step
# (largest fraction first), each giving up its cost in proportion, with the realized gain
# (short or long term by the lot's age). Pending settlement instructions keep their traded
# quantities, so the settled quantity moves by the same amount as the quantity.


@dataclass(frozen=True)
class SplitAdjustment:
    """One account's holding in a split: ``quantity`` before (the ledger's), whole lot steps
    after (``new_quantity``), the ``fraction`` of a share paid in cash and the cash
    (``proceeds``)."""

    account_id: int
    quantity: Decimal
    new_quantity: Decimal
    fraction: Decimal
    proceeds: Decimal


def _split_lots(lots: list[TaxLot], ratio, target: Decimal) -> list[Decimal]:
    """Each lot's quantity times ``ratio`` to 8 places, summing exactly to ``target``: cut
    down, then the last units of 0.00000001 go to the lots that lost the most."""
    import math
    from fractions import Fraction

    exact = [Fraction(lot.quantity) * ratio for lot in lots]
    units = [math.floor(value * 10**8) for value in exact]
    missing = int(target / CENT8) - sum(units)
    if not 0 <= missing <= len(lots):
        raise ValueError("the lots don't add up to the position")
    by_remainder = sorted(
        range(len(lots)), key=lambda i: (-(exact[i] * 10**8 - units[i]), lots[i].acquired_on, i)
    )
    for i in by_remainder[:missing]:
        units[i] += 1
    return [Decimal(u) * CENT8 for u in units]


def positions_split(
    *,
    instrument_id: int,
    ratio,
    lot_size: Decimal,
    adjustments: Sequence[SplitAdjustment],
    on: dt.date,
    reference: str,
    actor=None,
) -> dict[int, Decimal]:
    """Put the instrument's positions and tax lots on the post-split basis (``ratio``: a
    Fraction, new shares per old share) in the caller's transaction; returns the realized
    gain of each account's cash in lieu.

    Every position holding the instrument must have an adjustment whose ``quantity`` is the
    position's: otherwise ``invalid_state`` (the position and the ledger disagree; reconcile
    first).
    """
    from django.db.models import Q
    from simple_history.utils import bulk_update_with_history

    from apps.core.errors import invalid_state

    by_account = {a.account_id: a for a in adjustments}
    positions = list(
        Position.objects.select_for_update()
        .filter(instrument_id=instrument_id)
        .filter(Q(quantity__gt=0) | Q(account_id__in=list(by_account)))
        .order_by("account_id", "instrument_id")
    )
    found = {p.account_id for p in positions}
    disagree = [a.account_id for a in adjustments if a.quantity and a.account_id not in found]
    for position in positions:
        adjustment = by_account.get(position.account_id)
        if position.quantity != (adjustment.quantity if adjustment else ZERO):
            disagree.append(position.account_id)
    if disagree:
        raise invalid_state(
            "Positions and the ledger disagree on this instrument; reconcile them before the "
            "split.",
            accounts=sorted(set(disagree)),
        )
    lots_by_position: dict[int, list[TaxLot]] = defaultdict(list)
    for lot in (
        TaxLot.objects.select_for_update()
        .filter(position__in=positions, quantity__gt=0)
        .order_by("acquired_on", "pk")
    ):
        lots_by_position[lot.position_id].append(lot)
    gains: dict[int, Decimal] = {}
    changed_lots: list[TaxLot] = []
    reliefs: list[LotRelief] = []
    for position in positions:
        adjustment = by_account.get(position.account_id)
        if adjustment is None or not position.quantity:
            continue
        lots = lots_by_position[position.pk]
        try:
            scaled = _split_lots(lots, ratio, adjustment.new_quantity + adjustment.fraction)
        except ValueError as exc:
            raise invalid_state(
                "The tax lots of a position don't add up to its quantity; reconcile it before "
                "the split.",
                accounts=[position.account_id],
            ) from exc
        for lot, quantity in zip(lots, scaled, strict=True):
            if lot.quantity == lot.original_quantity:
                lot.original_quantity = quantity
            else:
                lot.original_quantity = _q(
                    lot.original_quantity * ratio.numerator / ratio.denominator
                )
            lot.quantity = quantity
            changed_lots.append(lot)
        left, proceeds_left = adjustment.fraction, adjustment.proceeds
        gain_total = cost_total = ZERO
        fractional = sorted(
            (lot for lot in lots if lot.quantity % lot_size),
            key=lambda lot: (-(lot.quantity % lot_size), lot.acquired_on, lot.pk),
        )
        for lot in fractional + [lot for lot in lots if lot not in fractional]:
            if left <= 0:
                break
            take = min(left, lot.quantity % lot_size or lot.quantity)
            cost = lot.cost if take == lot.quantity else _q(lot.cost * take / lot.quantity)
            proceeds = proceeds_left if take == left else _q(proceeds_left * take / left)
            term = GainTerm.LONG if on - lot.acquired_on > LONG_TERM_AFTER else GainTerm.SHORT
            reliefs.append(
                LotRelief(
                    lot=lot,
                    position=position,
                    reference=reference,
                    sold_on=on,
                    quantity=take,
                    cost=cost,
                    proceeds=proceeds,
                    gain=proceeds - cost,
                    term=term,
                )
            )
            lot.quantity -= take
            lot.cost -= cost
            if term == GainTerm.LONG:
                position.realized_long_term += proceeds - cost
            else:
                position.realized_short_term += proceeds - cost
            position.realized_pnl += proceeds - cost
            gain_total += proceeds - cost
            cost_total += cost
            left -= take
            proceeds_left -= proceeds
        gains[position.account_id] = gain_total
        position.settled_quantity += adjustment.new_quantity - position.quantity
        position.quantity = adjustment.new_quantity
        position.cost_basis -= cost_total
        _average(position)
        position.updated_at = timezone.now()
        position._change_reason = reference
        if actor is not None and getattr(actor, "pk", None):
            position._history_user = actor
    TaxLot.objects.bulk_update(changed_lots, ["quantity", "original_quantity", "cost"])
    for relief in reliefs:
        relief.lot_id = relief.lot.pk
    LotRelief.objects.bulk_create(reliefs)
    bulk_update_with_history(
        [p for p in positions if p.account_id in gains],
        Position,
        [
            "quantity",
            "settled_quantity",
            "cost_basis",
            "average_cost",
            "realized_pnl",
            "realized_short_term",
            "realized_long_term",
            "updated_at",
        ],
        batch_size=500,
        default_change_reason=reference,
        default_user=actor if getattr(actor, "pk", None) else None,
    )
    return gains
