"""The market simulator: house market makers keep the demo market alive.

Two house accounts quote each instrument around a random-walk fair price: limit orders on
both sides a few ticks from it, cancelled when the price leaves them behind, and now and
then one maker takes the other's quote with an immediate-or-cancel order, so trades print.
Everything goes through Bourse's own services - intake with its holds and risk checks, the
matching pipeline, the ledger, positions, settlement and market data - exactly as client
orders do; the simulator only decides what to send.

The house market makers are ordinary clients of Bourse (their own users, KYC approved at
tier 3 through the KYC services, accredited for accredited-only instruments). Their cash
comes from real deposits (apps.ledger.services.bank_credit_receive) and their shares from
custody by a securities-transfer ledger entry with its tax lot. They are created the first
time they are needed and topped up whenever they run low.

Matching: when Celery runs tasks in process (no REDIS_URL, and the tests), each order is
matched as its intake commits; with workers, the matching task does it, unless the caller
asks for matching ``inline`` (a shell without workers).

Given the same ``seed`` and the same starting state, a run makes the same decisions.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from apps.accounts import services as account_services
from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User
from apps.core.errors import ApplicationError
from apps.instruments.choices import InstrumentStatus, MarketState
from apps.instruments.models import Instrument
from apps.instruments.selectors import market_state
from apps.kyc import samples
from apps.kyc import services as kyc_services
from apps.kyc.choices import DocumentKind, KycStatus
from apps.kyc.models import KycApplication
from apps.kyc.selectors import kyc_is_accredited
from apps.ledger import references
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.money import minor_unit
from apps.ledger.selectors import cash_balances, security_balances
from apps.ledger.services import bank_credit_receive, journal_post, ledger_account_get
from apps.marketdata.choices import NotificationEvent
from apps.marketdata.services import notification_preferences_update
from apps.matching import services as matching
from apps.matching.models import BookState, Trade
from apps.orders import services as order_services
from apps.orders.choices import OPEN_ORDER_STATUSES, OrderSide, OrderType, TimeInForce
from apps.orders.models import Order
from apps.positions.models import LotSource
from apps.positions.services import PositionChange, positions_apply, positions_settle

logger = logging.getLogger("bourse.marketdata.simulator")

MAKERS = 2
DESK_NAMES = ("One", "Two", "Three", "Four")
MAKER_EMAIL = "market-maker-{}@house.bourse.local"
# pg_advisory locks of the simulator: one to create the house accounts, one per running loop.
LOCK_CLASS = 7302
SETUP_LOCK, RUN_LOCK = 1, 2

CASH_TOP_UP = Decimal("2000000")
CASH_FLOOR = Decimal("250000")
INVENTORY_VALUE = Decimal("400000")  # shares worth this much, per maker and instrument
ORDER_VALUES = (Decimal("2000"), Decimal("5000"), Decimal("10000"), Decimal("20000"))
VOLATILITY = 0.0015  # of the price, per step (one standard deviation)
HALF_SPREAD_BPS = 5
LEVEL_STEP_BPS = 3
LEVELS_PER_SIDE = 4
TAKE_PROBABILITY = 0.4
MARKET_ORDER_SHARE = 0.3


# --- The house market makers ----------------------------------------------------------------


def _kyc_fields(n: int) -> dict[str, Any]:
    return {
        "legal_name": f"Bourse Market Making Desk {DESK_NAMES[n - 1]}",
        "date_of_birth": dt.date(1990, 1, 1),
        "citizenship": "US",
        "country": "US",
        "address_line1": "1 Exchange Place",
        "city": "New York",
        "region": "NY",
        "postal_code": "10005",
        "tax_id": f"587-{10 + n:02d}-{4000 + n:04d}",
        "employment_status": "employed",
        "employer": "Bourse Securities Ltd",
        "occupation": "Market maker",
        "annual_income": "200k_500k",
        "net_worth": "1m_5m",
        "liquid_net_worth": "1m_5m",
        "source_of_funds": "business",
        "source_of_funds_detail": "The firm's own capital, allocated to market making.",
        "investment_experience": "extensive",
        "investment_objective": "speculation",
        "time_horizon": "short",
        "risk_tolerance": "high",
        "requested_tier": 3,
    }


def _upload(user: User, kind: str, name: str, content: bytes, content_type: str, **kw: Any):
    return kyc_services.kyc_document_upload(
        user=user,
        actor=user,
        kind=kind,
        file=SimpleUploadedFile(name, content, content_type=content_type),
        **kw,
    )


def _approve_house_kyc(user: User, n: int) -> None:
    """Tier 3 through the KYC services, as a compliance officer would approve it."""
    application = KycApplication.objects.filter(user=user).first()
    if application is not None and application.status == KycStatus.APPROVED:
        return
    if application is None or application.status in (KycStatus.DRAFT, KycStatus.NEEDS_INFORMATION):
        kyc_services.kyc_application_update(user=user, actor=user, **_kyc_fields(n))
        _upload(
            user,
            DocumentKind.GOVERNMENT_ID,
            "registration.png",
            samples.png(320, 200, (30, 60, 90)),
            "image/png",
            expires_on=timezone.localdate() + dt.timedelta(days=10 * 365),
        )
        _upload(
            user,
            DocumentKind.PROOF_OF_ADDRESS,
            "address.pdf",
            samples.pdf("Bourse Securities Ltd", "1 Exchange Place, New York, NY 10005"),
            "application/pdf",
        )
        application = kyc_services.kyc_submit(user=user, actor=user)
    if application.status == KycStatus.SUBMITTED:
        kyc_services.kyc_screening_run(
            application_id=application.pk, submission=application.submission_count
        )
        application.refresh_from_db()
    if application.status != KycStatus.APPROVED:
        kyc_services.kyc_approve(
            application=application,
            actor=None,
            tier=3,
            reason="House market-making account of the firm.",
            enforce_permission=False,
        )


def _accredit(user: User) -> bool:
    if kyc_is_accredited(user=user):
        return True
    try:
        evidence = _upload(
            user,
            DocumentKind.ACCREDITATION_EVIDENCE,
            "capital.pdf",
            samples.pdf("Bourse Securities Ltd", "Firm capital statement"),
            "application/pdf",
        )
        request = kyc_services.accreditation_request(
            user=user, actor=user, basis="net_worth", evidence=evidence
        )
        kyc_services.accreditation_verify(
            accreditation=request,
            actor=None,
            reason="The firm's own market-making capital.",
            enforce_permission=False,
        )
    except ApplicationError:
        logger.warning("Could not accredit %s; accredited-only instruments are skipped", user)
        return False
    return True


@dataclass
class Maker:
    """One house market maker: its user and its trading account per currency."""

    user: User
    accounts: dict[str, TradingAccount] = field(default_factory=dict)

    def account(self, instrument: Instrument) -> TradingAccount:
        return self.accounts[instrument.currency]


def _locked(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, key])


def house_makers(*, currencies: Iterable[str], accredited: bool = False) -> list[Maker]:
    """The house market makers with an active account in each of ``currencies``, created
    (and KYC-approved) the first time. Idempotent and safe to call from several processes."""
    currencies = sorted(set(currencies))
    makers = []
    for n in range(1, MAKERS + 1):
        email = MAKER_EMAIL.format(n)
        user = User.objects.filter(email=email).first()
        accounts = {
            a.currency: a
            for a in TradingAccount.objects.filter(owner=user, status=AccountStatus.ACTIVE)
        }
        if user is None or any(c not in accounts for c in currencies):
            with transaction.atomic():
                _locked(SETUP_LOCK)  # one process creates them; others wait and find them
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = account_services.user_register(
                        email=email,
                        password=secrets.token_urlsafe(24),
                        first_name="Market Making",
                        last_name=f"Desk {n}",
                    )
                    user.set_unusable_password()  # nobody signs in as the house
                    user.save(update_fields=["password"])
                    # Confirmations of the house's own fills and deposits stay in the record
                    # only: no e-mail, no live push.
                    notification_preferences_update(
                        user=user,
                        preferences={
                            event: {"in_app": False, "email": False}
                            for event in (NotificationEvent.ORDER_FILL, NotificationEvent.DEPOSIT)
                        },
                    )
                held = {a.currency: a for a in TradingAccount.objects.filter(owner=user)}
                for currency in currencies:
                    if currency not in held:
                        held[currency] = account_services.trading_account_open(
                            owner=user, actor=user, currency=currency
                        )
                _approve_house_kyc(user, n)
                for currency in currencies:
                    account = TradingAccount.objects.get(owner=user, currency=currency)
                    if account.status == AccountStatus.PENDING:
                        account_services.trading_account_activate(
                            account=account,
                            actor=None,
                            reason="House market-making account.",
                            enforce_permission=False,
                        )
            accounts = {
                a.currency: a
                for a in TradingAccount.objects.filter(owner=user, status=AccountStatus.ACTIVE)
            }
        if accredited:
            _accredit(user)
        makers.append(Maker(user=user, accounts=accounts))
    return makers


def fund(account: TradingAccount, amount: Decimal) -> None:
    """A bank transfer into the account, received as any client's is."""
    bank_credit_receive(
        bank_transaction_id=f"HOUSE-MM-{account.number}-{secrets.token_hex(8)}",
        reference=references.reference_for(account.number),
        amount=amount.quantize(minor_unit(account.currency)),
        currency=account.currency,
    )


def deliver(account: TradingAccount, instrument: Instrument, quantity: Decimal) -> None:
    """Shares from the firm's custody into the account, with their tax lot (settled)."""
    price = instrument.reference_price or Decimal(0)
    with transaction.atomic():
        journal_post(
            kind="securities_transfer",
            postings=[
                (
                    ledger_account_get(
                        house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
                    ),
                    -quantity,
                ),
                (
                    ledger_account_get(owner=account, instrument=instrument, bucket=Bucket.SETTLED),
                    quantity,
                ),
            ],
            memo=f"House market-making inventory: {quantity.normalize():f} {instrument.symbol}",
        )
        positions_apply(
            changes=[
                PositionChange(
                    account_id=account.pk,
                    instrument_id=instrument.pk,
                    side="buy",
                    quantity=quantity,
                    amount=(quantity * price).quantize(minor_unit(instrument.currency)),
                    on=timezone.localdate(),
                    source=LotSource.TRANSFER_IN,
                )
            ]
        )
        positions_settle(quantities={(account.pk, instrument.pk): quantity})


# --- The market -----------------------------------------------------------------------------


@dataclass
class Book:
    """What the simulator knows of one instrument: its fair price in ticks and its steps."""

    instrument: Instrument
    fair: int
    tick: Decimal
    half_spread: int
    level_step: int
    low: int | None
    high: int | None
    reference: int

    def price(self, ticks: int) -> Decimal:
        return (Decimal(ticks) * self.tick).quantize(self.tick)

    def clamp(self, ticks: int) -> int:
        if self.low is not None:
            ticks = max(ticks, self.low)
        if self.high is not None:
            ticks = min(ticks, self.high)
        return max(ticks, 1)


def _start_price(instrument: Instrument) -> Decimal | None:
    last = BookState.objects.filter(instrument=instrument).values_list("last_price", flat=True)
    last = last.first()
    return last or instrument.reference_price


def _book(instrument: Instrument) -> Book | None:
    price = _start_price(instrument)
    if not price:
        return None
    tick = instrument.tick_size
    fair = int((price / tick).to_integral_value())
    half = max(1, round(fair * HALF_SPREAD_BPS / 10_000))
    step = max(1, round(fair * LEVEL_STEP_BPS / 10_000))
    reference = int((instrument.reference_price or price) / tick)
    band = instrument.price_band()
    margin = half + step * (LEVELS_PER_SIDE + 4)
    low = high = None
    if band is not None:
        low = int((band[0] / tick).to_integral_value()) + margin
        high = int((band[1] / tick).to_integral_value()) - margin
        if low >= high:  # a narrow band: stay at its middle
            low = high = (low + high) // 2
    book = Book(instrument, fair, tick, half, step, low, high, reference)
    book.fair = book.clamp(fair)
    return book


def tradable_instruments(symbols: Sequence[str] | None = None) -> list[Instrument]:
    """Listed instruments with a price to start from whose market is open now (or those
    named, whatever their session), in symbol order."""
    rows = Instrument.objects.filter(status=InstrumentStatus.LISTED).select_related("calendar")
    if symbols:
        rows = rows.filter(symbol__in=[s.strip().upper() for s in symbols])
    now = timezone.now()
    chosen = []
    for instrument in rows.order_by("symbol"):
        if not symbols and market_state(instrument=instrument, at=now) != MarketState.OPEN:
            continue
        if _start_price(instrument) is None:
            continue
        chosen.append(instrument)
    return chosen


@dataclass
class Report:
    instruments: list[str] = field(default_factory=list)
    placed: int = 0
    cancelled: int = 0
    refused: int = 0
    failed: int = 0
    trades: int = 0
    steps: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    actions: list[tuple] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.steps} steps on {', '.join(self.instruments) or 'no instrument'}: "
            f"{self.placed} orders placed, {self.cancelled} cancelled, {self.refused} refused, "
            f"{self.trades} trades" + (f", {self.failed} failed" if self.failed else "")
        )


class Simulator:
    """House market makers quoting ``instruments`` around a random walk (``seed``)."""

    def __init__(
        self,
        *,
        instruments: Sequence[Instrument],
        seed: int | None = None,
        inline: bool = False,
        record: bool = False,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.inline = inline
        self.report = Report()
        self.record = record
        needs_accreditation = any(i.accredited_only for i in instruments)
        self.makers = house_makers(
            currencies={i.currency for i in instruments}, accredited=needs_accreditation
        )
        accredited = all(kyc_is_accredited(user=m.user) for m in self.makers)
        self.books: list[Book] = []
        for instrument in instruments:
            if instrument.accredited_only and not accredited:
                continue
            book = _book(instrument)
            if book is not None:
                self.books.append(book)
        self.report.instruments = [b.instrument.symbol for b in self.books]
        self._started = timezone.now()

    # -- inventory -----------------------------------------------------------------------

    def _ensure_cash(self, account: TradingAccount, needed: Decimal) -> None:
        cash = cash_balances(account=account)
        if cash.buying_power < max(needed, CASH_FLOOR):
            fund(account, max(CASH_TOP_UP, needed * 2))

    def _ensure_shares(self, account: TradingAccount, book: Book, needed: Decimal) -> None:
        instrument = book.instrument
        available = security_balances(account=account, instrument=instrument).available
        if available >= needed:
            return
        worth = book.price(book.fair)
        target = max(needed * 4, self._lots(instrument, INVENTORY_VALUE / worth))
        deliver(account, instrument, target)

    @staticmethod
    def _lots(instrument: Instrument, quantity: Decimal) -> Decimal:
        lot = instrument.lot_size
        lots = (quantity / lot).to_integral_value(ROUND_FLOOR)
        return max(lots * lot, instrument.min_quantity)

    def _quantity(self, book: Book, scale: float = 1.0) -> Decimal:
        value = self.rng.choice(ORDER_VALUES) * Decimal(str(scale))
        return self._lots(book.instrument, value / book.price(book.fair))

    # -- actions -------------------------------------------------------------------------

    def _place(
        self,
        maker: Maker,
        book: Book,
        side: str,
        quantity: Decimal,
        *,
        ticks: int | None,
        tif: str,
    ) -> Order | None:
        instrument = book.instrument
        account = maker.account(instrument)
        price = book.price(book.clamp(ticks)) if ticks is not None else None
        if side == OrderSide.BUY:
            self._ensure_cash(account, (price or book.price(book.fair)) * quantity * 2)
        else:
            self._ensure_shares(account, book, quantity)
        if self.record:
            self.report.actions.append(
                ("place", instrument.symbol, side, str(price), str(quantity))
            )
        try:
            order, _ = order_services.order_place(
                account=account,
                instrument=instrument,
                side=side,
                type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                quantity=quantity,
                limit_price=price,
                time_in_force=tif,
                actor=maker.user,
            )
        except ApplicationError as exc:
            self.report.refused += 1
            self.report.refusals[exc.code] = self.report.refusals.get(exc.code, 0) + 1
            logger.debug("Simulator order refused: %s", exc.message)
            return None
        except OperationalError:
            # A deadlock with another simulation of the same house accounts: nothing was
            # written; the next step carries on.
            self.report.failed += 1
            logger.warning("Simulator order failed in the database", exc_info=True)
            return None
        self.report.placed += 1
        if self.inline:
            matching.match_instrument(instrument_id=instrument.pk)
        return order

    def _cancel(self, maker: Maker, order: Order) -> None:
        if self.record:
            self.report.actions.append(("cancel", order.instrument.symbol, order.side))
        try:
            order_services.order_cancel(
                order=order, actor=maker.user, reason="Market maker requotes."
            )
        except ApplicationError:
            return  # it filled meanwhile
        except OperationalError:
            self.report.failed += 1
            logger.warning("Simulator cancel failed in the database", exc_info=True)
            return
        self.report.cancelled += 1

    def _requote(self, maker: Maker, book: Book) -> None:
        """Cancel the maker's quotes the fair price left behind (or the oldest beyond the
        levels it keeps per side)."""
        fair = book.price(book.fair)
        far = book.tick * (book.half_spread + book.level_step * (LEVELS_PER_SIDE + 3))
        resting = list(
            Order.objects.filter(
                account=maker.account(book.instrument),
                instrument=book.instrument,
                status__in=OPEN_ORDER_STATUSES,
                type=OrderType.LIMIT,
            )
            .select_related("instrument", "account")
            .order_by("sequence")
        )
        keep: dict[str, list[Order]] = {OrderSide.BUY: [], OrderSide.SELL: []}
        for order in resting:
            stale = (
                order.limit_price >= fair
                if order.side == OrderSide.BUY
                else order.limit_price <= fair
            ) or abs(order.limit_price - fair) > far
            if stale:
                self._cancel(maker, order)
            else:
                keep[order.side].append(order)
        for orders in keep.values():
            for order in orders[: max(0, len(orders) - LEVELS_PER_SIDE + 1)]:
                self._cancel(maker, order)

    def _walk(self, book: Book) -> None:
        sigma = max(1.0, book.fair * VOLATILITY)
        move = self.rng.gauss(0.0, sigma) + (book.reference - book.fair) * 0.01
        book.fair = book.clamp(book.fair + round(move))

    def step(self, book: Book) -> None:
        """One move of ``book``'s fair price, a requote by one maker and, sometimes, a trade
        against it by the other."""
        self._walk(book)
        maker_index = self.rng.randrange(len(self.makers))
        maker = self.makers[maker_index]
        self._requote(maker, book)
        for _ in range(self.rng.choice((1, 2))):
            side = self.rng.choice((OrderSide.BUY, OrderSide.SELL))
            level = self.rng.randrange(LEVELS_PER_SIDE)
            offset = book.half_spread + level * book.level_step
            ticks = book.fair - offset if side == OrderSide.BUY else book.fair + offset
            self._place(maker, book, side, self._quantity(book), ticks=ticks, tif=TimeInForce.DAY)
        if self.rng.random() < TAKE_PROBABILITY:
            taker = self.makers[(maker_index + 1) % len(self.makers)]
            side = self.rng.choice((OrderSide.BUY, OrderSide.SELL))
            quantity = self._quantity(book, scale=0.5)
            if self.rng.random() < MARKET_ORDER_SHARE:
                self._place(taker, book, side, quantity, ticks=None, tif=TimeInForce.IOC)
            else:
                reach = book.half_spread + book.level_step * 2
                ticks = book.fair + reach if side == OrderSide.BUY else book.fair - reach
                self._place(taker, book, side, quantity, ticks=ticks, tif=TimeInForce.IOC)
        self.report.steps += 1

    # -- running -------------------------------------------------------------------------

    def run(self, *, steps: int | None = None, seconds: float | None = None, rate: float = 0):
        """Step the instruments in turn, ``steps`` times or for ``seconds``, at about ``rate``
        steps per second (0: as fast as they go). Returns the :class:`Report`."""
        if not self.books:
            return self.report
        started = time.monotonic()
        done = 0
        # Short runs (the beat job's few steps) start at a different instrument each time,
        # so every instrument gets its turn.
        first = self.rng.randrange(len(self.books))
        while True:
            if steps is not None and done >= steps:
                break
            if seconds is not None and time.monotonic() - started >= seconds:
                break
            self.step(self.books[(first + done) % len(self.books)])
            done += 1
            if rate > 0:
                due = started + done / rate
                pause = due - time.monotonic()
                if pause > 0:
                    if seconds is not None:
                        pause = min(pause, max(0.0, started + seconds - time.monotonic()))
                    time.sleep(pause)
        symbols = [b.instrument.pk for b in self.books]
        self.report.trades = Trade.objects.filter(
            instrument_id__in=symbols, executed_at__gte=self._started
        ).count()
        return self.report


def simulate(
    *,
    symbols: Sequence[str] | None = None,
    steps: int | None = None,
    seconds: float | None = None,
    rate: float = 0,
    seed: int | None = None,
    inline: bool = False,
    exclusive: bool = False,
) -> Report:
    """Run the house market makers (see the module's docstring). ``exclusive`` (the beat
    job): only one such run at a time in the whole platform; one that finds another going
    returns an empty report. Runs that are not exclusive may overlap (more order flow)."""
    acquired = True
    if exclusive:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, RUN_LOCK])
            (acquired,) = cursor.fetchone()
        if not acquired:
            logger.info("Another market simulation is running; this one is skipped")
            return Report()
    try:
        simulator = Simulator(instruments=tradable_instruments(symbols), seed=seed, inline=inline)
        return simulator.run(steps=steps, seconds=seconds, rate=rate)
    finally:
        if exclusive:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, RUN_LOCK])
