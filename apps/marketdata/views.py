"""Client portal pages: the dashboard (balances, positions valued at the market, open orders,
watchlists), an instrument's live page (quote, depth, prints, chart, order ticket),
watchlists with quotes, movers, price alerts, notifications and their preferences.

Server-rendered first: every page is complete without JavaScript. With it,
static/marketdata/live.js follows the WebSocket feed, patches quotes, depth and prints in
place, and asks HTMX to re-render the parts that need the server (positions, orders, the
chart) when the feed says they changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import zip_longest

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.selectors import trading_accounts_for
from apps.core.errors import ApplicationError
from apps.instruments import selectors as instrument_selectors
from apps.instruments.choices import AssetClass
from apps.instruments.choices import MarketState as MarketStateChoice
from apps.instruments.models import Instrument
from apps.instruments.schedule import ScheduleError
from apps.ledger.money import cash_text, minor_unit
from apps.ledger.selectors import cash_balances
from apps.marketdata import charts, selectors, services, snapshots, storage
from apps.marketdata.choices import (
    AlertCondition,
    AlertStatus,
    CandleInterval,
    NotificationEvent,
)
from apps.marketdata.forms import PriceAlertForm, SymbolForm, WatchlistForm
from apps.matching.models import Fill
from apps.orders.selectors import orders_for
from apps.positions import selectors as position_selectors


def _own_watchlist(request: HttpRequest, pk: int):
    try:
        return selectors.watchlist_for(user=request.user, pk=pk)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _own_alert(request: HttpRequest, pk: int):
    try:
        return selectors.price_alert_for(user=request.user, pk=pk)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _rows(watchlist, quotes):
    return [
        {"item": item, "quote": quotes.get(item.instrument_id)} for item in watchlist.items.all()
    ]


@login_required
def watchlists(request: HttpRequest) -> HttpResponse:
    form = WatchlistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            watchlist = services.watchlist_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Watchlist {watchlist.name} created.")
            return redirect("marketdata:watchlist", pk=watchlist.pk)
    lists = list(selectors.watchlists_for(user=request.user))
    instruments = {item.instrument for w in lists for item in w.items.all()}
    quotes = selectors.instrument_quotes(instruments=instruments)
    context = {
        "form": form,
        "watchlists": [{"watchlist": w, "rows": _rows(w, quotes)} for w in lists],
        "symbols": sorted({i.symbol for i in instruments}),
    }
    return render(request, "marketdata/watchlists.html", context)


@login_required
def watchlist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    watchlist = _own_watchlist(request, pk)
    add_form = SymbolForm(request.POST if "add" in request.POST else None)
    rename_form = WatchlistForm(
        request.POST if "rename" in request.POST else None, initial={"name": watchlist.name}
    )
    if request.method == "POST":
        try:
            if "add" in request.POST and add_form.is_valid():
                instrument = selectors.instrument_by_symbol(add_form.cleaned_data["symbol"])
                services.watchlist_item_add(
                    watchlist=watchlist, instrument=instrument, actor=request.user
                )
                messages.success(request, f"{instrument.symbol} added.")
                return redirect("marketdata:watchlist", pk=pk)
            if "rename" in request.POST and rename_form.is_valid():
                services.watchlist_rename(
                    watchlist=watchlist, name=rename_form.cleaned_data["name"], actor=request.user
                )
                messages.success(request, "Watchlist renamed.")
                return redirect("marketdata:watchlist", pk=pk)
        except ApplicationError as exc:
            (add_form if "add" in request.POST else rename_form).add_error(None, exc.message)
    watchlist = _own_watchlist(request, pk)
    instruments = [item.instrument for item in watchlist.items.all()]
    quotes = selectors.instrument_quotes(instruments=instruments)
    context = {
        "watchlist": watchlist,
        "rows": _rows(watchlist, quotes),
        "add_form": add_form,
        "rename_form": rename_form,
        "symbols": [i.symbol for i in instruments],
    }
    return render(request, "marketdata/watchlist.html", context)


@login_required
@require_POST
def watchlist_remove(request: HttpRequest, pk: int, symbol: str) -> HttpResponse:
    watchlist = _own_watchlist(request, pk)
    try:
        instrument = selectors.instrument_by_symbol(symbol)
        services.watchlist_item_remove(
            watchlist=watchlist, instrument=instrument, actor=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{instrument.symbol} removed.")
    return redirect("marketdata:watchlist", pk=pk)


@login_required
@require_POST
def watchlist_delete(request: HttpRequest, pk: int) -> HttpResponse:
    watchlist = _own_watchlist(request, pk)
    services.watchlist_delete(watchlist=watchlist, actor=request.user)
    messages.success(request, f"Watchlist {watchlist.name} deleted.")
    return redirect("marketdata:watchlists")


@login_required
def movers(request: HttpRequest) -> HttpResponse:
    asset_class = request.GET.get("asset_class") or None
    if asset_class not in AssetClass.values:
        asset_class = None
    context = {
        "movers": selectors.market_movers(asset_class=asset_class, limit=10),
        "asset_classes": AssetClass.choices,
        "asset_class": asset_class,
    }
    return render(request, "marketdata/movers.html", context)


def _alert_row(alert) -> dict:
    f = snapshots.Formats(alert.instrument)
    if alert.condition == AlertCondition.PERCENT_MOVE:
        threshold = f"{alert.threshold.normalize():f}%"
    else:
        threshold = f.p(alert.threshold)
    return {
        "alert": alert,
        "threshold": threshold,
        "base_price": f.p(alert.base_price),
        "triggered_price": f.p(alert.triggered_price),
    }


@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    form = PriceAlertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            instrument = selectors.instrument_by_symbol(data["symbol"])
            alert = services.price_alert_create(
                user=request.user,
                instrument=instrument,
                condition=data["condition"],
                threshold=data["threshold"],
                base_price=data.get("base_price"),
                note=data.get("note") or "",
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Alert on {alert.instrument.symbol} set.")
            return redirect("marketdata:alerts")
    rows = [_alert_row(a) for a in selectors.price_alerts_for(user=request.user)[:200]]
    context = {
        "form": form,
        "active": [r for r in rows if r["alert"].status == AlertStatus.ACTIVE],
        "past": [r for r in rows if r["alert"].status != AlertStatus.ACTIVE],
    }
    return render(request, "marketdata/alerts.html", context)


@login_required
@require_POST
def alert_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _own_alert(request, pk)
    try:
        services.price_alert_cancel(
            alert=alert, actor=request.user, reason="Cancelled by the client"
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Alert cancelled.")
    return redirect("marketdata:alerts")


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        changes = {
            event: {
                "in_app": f"{event}_in_app" in request.POST,
                "email": f"{event}_email" in request.POST,
            }
            for event in NotificationEvent.values
        }
        services.notification_preferences_update(user=request.user, preferences=changes)
        messages.success(request, "Notification preferences saved.")
        return redirect("marketdata:notifications")
    page = Paginator(selectors.notifications_for(user=request.user), 25).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "preferences": selectors.notification_preferences(user=request.user),
        "unread": selectors.notifications_unread_count(user=request.user),
    }
    return render(request, "marketdata/notifications.html", context)


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_all_read(user=request.user)
    return redirect("marketdata:notifications")


# --- The dashboard and an instrument's live page ---------------------------------------------

DASHBOARD_PARTS = ("balances", "positions", "orders", "fills", "watchlists")
INSTRUMENT_PARTS = ("chart", "position", "orders", "fills")
CHART_CANDLES = 60
RECENT_FILLS = 10
OPEN_ORDERS_SHOWN = 50
TICKET_TEMPLATE = "orders/_ticket.html"


def _signed_class(value: Decimal | None) -> str:
    if not value:
        return ""
    return "up" if value > 0 else "down"


def _position_rows(user, *, instrument: Instrument | None = None) -> list[dict]:
    """The client's open positions valued by the positions app (the last trade price, else
    the reference price), formatted to each instrument's steps."""
    positions = position_selectors.positions_for(
        user=user, symbol=instrument.symbol if instrument is not None else None
    )
    rows = []
    for valued in position_selectors.positions_value(positions=positions):
        position, item = valued.position, valued.instrument
        f = snapshots.Formats(item)
        rows.append(
            {
                "position": position,
                "instrument": item,
                "account": position.account,
                "currency": valued.currency,
                "quantity": f.q(position.quantity),
                "average_cost": f.p(position.average_cost.quantize(item.tick_size / 100)),
                "price": f.p(valued.mark.price),
                "priced_at_last": valued.mark.source == "last",
                "value": valued.market_value,
                "cost": position.cost_basis.quantize(minor_unit(valued.currency)),
                "pnl": valued.unrealized_pnl,
                "pnl_percent": valued.unrealized_pnl_pct,
                "pnl_class": _signed_class(valued.unrealized_pnl),
                "day": valued.day_pnl,
                "day_class": _signed_class(valued.day_pnl),
                "realized": valued.realized_pnl,
            }
        )
    return rows


def _balance_rows(user, positions: list[dict]) -> list[dict]:
    """Each trading account's cash by bucket, the market value of its holdings in its
    currency, and the total."""
    rows = []
    for account in trading_accounts_for(user=user):
        cash = cash_balances(account=account)
        held = [
            r["value"]
            for r in positions
            if r["account"].pk == account.pk and r["currency"] == account.currency
        ]
        market_value = sum(held, Decimal(0)).quantize(minor_unit(cash.currency))
        rows.append(
            {
                "account": account,
                "cash": cash,
                "market_value": market_value,
                "equity": cash.total + market_value,
            }
        )
    return rows


def _order_rows(user, *, instrument: Instrument | None = None) -> list[dict]:
    orders = orders_for(user=user, status="open")
    if instrument is not None:
        orders = orders.filter(instrument=instrument)
    rows = []
    for order in orders[:OPEN_ORDERS_SHOWN]:
        f = snapshots.Formats(order.instrument)
        rows.append(
            {
                "order": order,
                "quantity": f.q(order.quantity),
                "filled": f.q(order.filled_quantity),
                "leaves": f.q(order.quantity - order.filled_quantity),
                "limit_price": f.p(order.limit_price),
                "stop_price": f.p(order.stop_price),
                "average_price": f.p(order.average_price),
                "cancel_url": _cancel_url(order.pk),
            }
        )
    return rows


def _fill_rows(user, *, instrument: Instrument | None = None) -> list[dict]:
    fills = Fill.objects.filter(account__owner=user).select_related("instrument", "account")
    if instrument is not None:
        fills = fills.filter(instrument=instrument)
    rows = []
    for fill in fills.order_by("-executed_at", "-pk")[:RECENT_FILLS]:
        f = snapshots.Formats(fill.instrument)
        rows.append(
            {
                "fill": fill,
                "price": f.p(fill.price),
                "quantity": f.q(fill.quantity),
                "notional": cash_text(fill.notional, fill.instrument.currency),
                "fee": cash_text(fill.fee, fill.instrument.currency),
            }
        )
    return rows


def _watchlist_entries(user) -> tuple[list[dict], list[str]]:
    lists = list(selectors.watchlists_for(user=user))
    instruments = {item.instrument for w in lists for item in w.items.all()}
    quotes = selectors.instrument_quotes(instruments=instruments)
    entries = [{"watchlist": w, "rows": _rows(w, quotes)} for w in lists]
    return entries, sorted({i.symbol for i in instruments})


def _dashboard_context(user, parts: tuple[str, ...]) -> dict:
    context: dict = {"page_url": reverse("home")}
    positions = None
    if "positions" in parts or "balances" in parts:
        positions = _position_rows(user)
        context["positions"] = positions
    if "balances" in parts:
        context["balances"] = _balance_rows(user, positions)
    if "orders" in parts:
        context["orders"] = _order_rows(user)
    if "fills" in parts:
        context["fills"] = _fill_rows(user)
    if "watchlists" in parts:
        context["watchlists"], context["watch_symbols"] = _watchlist_entries(user)
    return context


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The client's home: balances, positions at the market, open orders, recent fills and
    watchlists, all current when served and kept current by the live feed."""
    context = _dashboard_context(request.user, DASHBOARD_PARTS)
    held = {r["instrument"].symbol for r in context["positions"]}
    held |= {r["order"].instrument.symbol for r in context["orders"]}
    context["live_symbols"] = sorted(held | set(context["watch_symbols"]))
    return render(request, "marketdata/dashboard.html", context)


@login_required
def dashboard_part(request: HttpRequest, part: str) -> HttpResponse:
    """One section of the dashboard, re-rendered (HTMX swaps it in when the feed says it
    changed)."""
    if part not in DASHBOARD_PARTS:
        raise Http404("No such part of the dashboard.")
    context = _dashboard_context(request.user, (part,))
    return render(request, f"marketdata/_dash_{part}.html", context)


def _live_instrument(symbol: str) -> Instrument:
    try:
        return instrument_selectors.instrument_get(symbol=symbol)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _chart_context(instrument: Instrument, interval: str | None) -> dict:
    if interval not in CandleInterval.values:
        interval = CandleInterval.ONE_MINUTE
    width = storage.INTERVALS[interval]
    now = timezone.now()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    current = epoch + ((now - epoch) // width) * width
    start = current - width * (CHART_CANDLES - 1)
    candles = selectors.instrument_candles(
        instrument=instrument, interval=interval, start=start, end=current + width
    )
    label = CandleInterval(interval).label
    return {
        "interval": interval,
        "intervals": CandleInterval.choices,
        "chart": charts.candle_chart(
            candles=candles,
            formats=snapshots.Formats(instrument),
            interval=width,
            title=f"{instrument.symbol}, {label} candles with volume",
        ),
    }


def _instrument_parts(request: HttpRequest, instrument: Instrument, parts: tuple[str, ...]):
    context: dict = {
        "instrument": instrument,
        "page_url": reverse("marketdata:instrument_live", args=[instrument.symbol]),
    }
    if "chart" in parts:
        context.update(_chart_context(instrument, request.GET.get("interval")))
    if "position" in parts:
        context["positions"] = _position_rows(request.user, instrument=instrument)
    if "orders" in parts:
        context["orders"] = _order_rows(request.user, instrument=instrument)
    if "fills" in parts:
        context["fills"] = _fill_rows(request.user, instrument=instrument)
    return context


def _ladder(depth: dict) -> list[tuple[list | None, list | None]]:
    """Bid and ask levels side by side, best first: [(bid level, ask level), ...]."""
    return list(zip_longest(depth["bids"], depth["asks"]))


def _ticket(request: HttpRequest, instrument: Instrument) -> dict:
    """The orders app's ticket for ``instrument`` (its partial and what the partial needs),
    or no ticket when order entry is not installed."""
    try:
        from apps.orders.views import ticket_context

        get_template(TICKET_TEMPLATE)
    except (ImportError, TemplateDoesNotExist):
        return {"ticket_template": None}
    return {
        "ticket_template": TICKET_TEMPLATE,
        "ticket_url": f"{reverse('orders:new')}?symbol={instrument.symbol}",
        **ticket_context(user=request.user, instrument=instrument),
    }


def _cancel_url(order_id: int) -> str | None:
    try:
        return reverse("orders:cancel", args=[order_id])
    except NoReverseMatch:
        return None


@login_required
def instrument_live(request: HttpRequest, symbol: str) -> HttpResponse:
    """An instrument's live page: the instrument's terms and hours (its master page), with
    the live quote, the depth ladder, recent prints, a candle chart and the order ticket in
    place of the day's reference prices."""
    instrument = _live_instrument(symbol)
    if instrument.symbol != symbol:
        return redirect("marketdata:instrument_live", symbol=instrument.symbol)
    now = timezone.now()
    calendar = instrument.calendar
    schedule = instrument_selectors.schedule_for(calendar)
    try:
        sessions = instrument_selectors.upcoming_sessions(calendar=calendar, after=now, count=5)
    except ScheduleError:
        sessions = []
    today = schedule.trade_date(now)
    trade_day = sessions[0].date if sessions else today
    state = instrument_selectors.market_state(instrument=instrument, at=now)
    f = snapshots.Formats(instrument)
    band = instrument.price_band()
    context = {
        "instrument": instrument,
        "market_state": state,
        "market_state_label": MarketStateChoice(state).label,
        "halt": instrument_selectors.current_halt(instrument),
        "band": band,
        "calendar": calendar,
        "zone": schedule.zone,
        "sessions": sessions,
        "special_days": instrument_selectors.special_days(
            calendar=calendar, start=today, end=today + timedelta(days=90)
        ),
        "trade_date": trade_day,
        "settlement_date": instrument_selectors.settlement_date(
            instrument=instrument, trade_date=trade_day
        ),
        "quote": selectors.instrument_quote(instrument=instrument),
        "reference_price": f.p(instrument.reference_price),
        "band_prices": [f.p(p) for p in band] if band else None,
        "ladder": _ladder(selectors.instrument_depth(instrument=instrument, levels=10)),
        "prints": selectors.instrument_prints(instrument=instrument, limit=20),
        **_instrument_parts(request, instrument, INSTRUMENT_PARTS),
        **_ticket(request, instrument),
    }
    return render(request, "marketdata/instrument_live.html", context)


@login_required
def instrument_part(request: HttpRequest, symbol: str, part: str) -> HttpResponse:
    """One section of an instrument's live page, re-rendered for HTMX."""
    if part not in INSTRUMENT_PARTS:
        raise Http404("No such part of the page.")
    instrument = _live_instrument(symbol)
    context = _instrument_parts(request, instrument, (part,))
    return render(request, f"marketdata/_instrument_{part}.html", context)
