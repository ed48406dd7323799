"""Client portal pages: the instrument list (search and filters), an instrument's page (with
its corporate actions) and the client's dividends."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.instruments import selectors
from apps.instruments.choices import AssetClass, InstrumentStatus, MarketState
from apps.instruments.schedule import ScheduleError

PAGE_SIZE = 25


@login_required
def instrument_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    asset_class = params.get("asset_class", "")
    status = params.get("status", "")
    currency = params.get("currency", "").upper()
    filters = {
        "search": params.get("q", "").strip()[:50],
        "asset_class": asset_class if asset_class in AssetClass.values else "",
        "status": status if status in InstrumentStatus.values else "",
        "currency": currency if currency in settings.CURRENCIES else "",
    }
    page = Paginator(selectors.instruments_list(**filters), PAGE_SIZE).get_page(params.get("page"))
    now = timezone.now()
    rows = []
    for instrument in page.object_list:
        state = selectors.market_state(instrument=instrument, at=now)
        rows.append((instrument, state, MarketState(state).label))
    query = params.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "asset_classes": AssetClass.choices,
        "statuses": InstrumentStatus.choices,
        "currencies": sorted(settings.CURRENCIES),
        "query": query.urlencode(),
    }
    return render(request, "instruments/list.html", context)


@login_required
def instrument_detail(request: HttpRequest, symbol: str) -> HttpResponse:
    try:
        instrument = selectors.instrument_get(symbol=symbol)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    now = timezone.now()
    calendar = instrument.calendar
    schedule = selectors.schedule_for(calendar)
    try:
        sessions = selectors.upcoming_sessions(calendar=calendar, after=now, count=5)
    except ScheduleError:
        sessions = []
    today = schedule.trade_date(now)
    # An order placed now trades in the session in progress or the next one.
    trade_day = sessions[0].date if sessions else today
    state = selectors.market_state(instrument=instrument, at=now)
    context = {
        "instrument": instrument,
        "market_state": state,
        "market_state_label": MarketState(state).label,
        "halt": selectors.current_halt(instrument),
        "band": instrument.price_band(),
        "calendar": calendar,
        "zone": schedule.zone,
        "sessions": sessions,
        "special_days": selectors.special_days(
            calendar=calendar, start=today, end=today + dt.timedelta(days=90)
        ),
        "trade_date": trade_day,
        "settlement_date": selectors.settlement_date(instrument=instrument, trade_date=trade_day),
    }
    return render(request, "instruments/detail.html", context)


@login_required
def dividends(request: HttpRequest) -> HttpResponse:
    """The client's dividends: income per account, the payments (shares of record, gross,
    tax withheld, net) and the dividends announced on what they hold."""
    from apps.accounts.selectors import trading_accounts_for
    from apps.positions.models import Position

    accounts = list(trading_accounts_for(user=request.user))
    chosen = None
    wanted = request.GET.get("account", "")
    if wanted:
        chosen = next((a for a in accounts if str(a.pk) == wanted), None)
        if chosen is None:
            raise Http404("No such account.")
    shown = [chosen] if chosen else accounts
    income = [(account, selectors.dividend_income(account=account)) for account in shown]
    rows = selectors.dividends_for(user=request.user, account=chosen)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    held = Position.objects.filter(account__in=shown, quantity__gt=0).values("instrument_id")
    upcoming = selectors.corporate_actions_public(instrument_ids=held, upcoming=True)
    context = {
        "accounts": accounts,
        "chosen": chosen,
        "income": income,
        "page": page,
        "upcoming": list(upcoming[:20]),
    }
    return render(request, "instruments/dividends.html", context)
