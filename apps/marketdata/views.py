"""Client portal pages: watchlists with quotes, movers, price alerts, notifications and their
preferences. Server-rendered; static/marketdata/live.js updates quotes and shows
notifications live over the WebSocket feed when JavaScript is on."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError
from apps.instruments.choices import AssetClass
from apps.marketdata import selectors, services, snapshots
from apps.marketdata.choices import AlertCondition, AlertStatus, NotificationEvent
from apps.marketdata.forms import PriceAlertForm, SymbolForm, WatchlistForm


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
