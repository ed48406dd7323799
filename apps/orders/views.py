"""Client portal pages of the orders app: the order ticket with its pre-trade preview, open
orders (cancel, replace), the order history with each order's fills, and an order's page.

The ticket is the partial ``orders/_ticket.html`` (context: ``instrument``, ``accounts``,
``form``), posting to ``orders:place``; other pages (an instrument's page) include it with
:func:`ticket_context`. "Preview" runs every intake rule without placing anything
(apps.orders.services.order_assess); "Place order" places it (order_place). With HTMX the
ticket swaps itself in place; without, the ticket page renders in full.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.models import TradingAccount
from apps.accounts.selectors import trading_accounts_for
from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument
from apps.instruments.selectors import instrument_get
from apps.orders import selectors, services
from apps.orders.choices import (
    OPEN_ORDER_STATUSES,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from apps.orders.models import Order

HISTORY_PAGE_SIZE = 25
_LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)
_DECIMAL = {"max_digits": 24, "decimal_places": 8}


class OrderTicketForm(forms.Form):
    """The ticket's fields. Prices a type doesn't take are dropped (a limit price left in the
    box when switching to a market order), and ``expire_at`` is kept for GTD only."""

    account = forms.ModelChoiceField(queryset=TradingAccount.objects.none(), empty_label=None)
    symbol = forms.CharField(max_length=32)
    side = forms.ChoiceField(choices=OrderSide.choices, initial=OrderSide.BUY)
    type = forms.ChoiceField(choices=OrderType.choices, initial=OrderType.LIMIT)
    quantity = forms.DecimalField(**_DECIMAL, min_value=Decimal("0.00000001"))
    limit_price = forms.DecimalField(**_DECIMAL, required=False, min_value=Decimal(0))
    stop_price = forms.DecimalField(**_DECIMAL, required=False, min_value=Decimal(0))
    time_in_force = forms.ChoiceField(choices=TimeInForce.choices, initial=TimeInForce.DAY)
    expire_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    request_key = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, accounts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("type")
        if kind not in _LIMIT_TYPES:
            data["limit_price"] = None
        if kind not in _STOP_TYPES:
            data["stop_price"] = None
        if data.get("time_in_force") != TimeInForce.GTD:
            data["expire_at"] = None
        return data

    def terms(self) -> services.OrderTerms:
        data = self.cleaned_data
        return services.OrderTerms(
            side=data["side"],
            type=data["type"],
            quantity=data["quantity"],
            limit_price=data["limit_price"],
            stop_price=data["stop_price"],
            time_in_force=data["time_in_force"],
            expire_at=data["expire_at"],
        )

    def client_order_id(self) -> str | None:
        key = (self.cleaned_data.get("request_key") or "").strip()
        return f"portal-{key}" if key else None


class ReplaceForm(forms.Form):
    quantity = forms.DecimalField(**_DECIMAL, required=False, min_value=Decimal("0.00000001"))
    limit_price = forms.DecimalField(**_DECIMAL, required=False, min_value=Decimal(0))


def ticket_form(
    *,
    user: Any,
    instrument: Instrument | None = None,
    account: TradingAccount | None = None,
    data: Any = None,
) -> OrderTicketForm:
    """A fresh (or, with ``data``, bound) ticket for ``user``'s accounts."""
    accounts = trading_accounts_for(user=user)
    if data is not None:
        return OrderTicketForm(data, accounts=accounts)
    if account is None and instrument is not None:
        account = accounts.filter(currency=instrument.currency).first()
    return OrderTicketForm(
        accounts=accounts,
        initial={
            "account": account.pk if account is not None else None,
            "symbol": instrument.symbol if instrument is not None else "",
            "request_key": uuid.uuid4().hex,
        },
    )


def ticket_context(
    *, user: Any, instrument: Instrument | None, account: TradingAccount | None = None
) -> dict[str, Any]:
    """What ``orders/_ticket.html`` needs, for a page that includes the ticket."""
    accounts = trading_accounts_for(user=user)
    if instrument is not None:
        accounts = accounts.filter(currency=instrument.currency)
    return {
        "instrument": instrument,
        "accounts": list(accounts),
        "form": ticket_form(user=user, instrument=instrument, account=account),
    }


def _money(value: Decimal | None, currency: str) -> str | None:
    if value is None:
        return None
    return f"{selectors.cash_amount(value, currency):,f}"


def _preview(assessment: services.Assessment, account: TradingAccount) -> dict[str, Any]:
    """The assessment as the ticket shows it; ``error`` names the rule that refuses."""
    currency = account.currency
    error = assessment.error
    return {
        "price": assessment.price,
        "notional": _money(assessment.notional, currency),
        "fee": _money(assessment.fee, currency),
        "estimated_total": _money(assessment.hold, currency),
        "hold": assessment.hold,
        "buying_power": _money(assessment.buying_power, currency),
        "buying_power_after": _money(assessment.buying_power_after, currency),
        "available_quantity": assessment.available_quantity,
        "queued": assessment.queued,
        "protection_price": assessment.protection_price,
        "expires_at": assessment.expires_at,
        "currency": currency,
        "ok": error is None,
        "error": (
            {
                "code": error.code,
                "message": error.message,
                "rule": error.details.get("rule") or error.code,
                "details": [
                    (k, v) for k, v in error.details.items() if k != "rule" and v not in ("", None)
                ],
            }
            if error is not None
            else None
        ),
    }


def _ticket_response(
    request: HttpRequest,
    form: OrderTicketForm,
    instrument: Instrument | None,
    preview: dict[str, Any] | None = None,
) -> HttpResponse:
    accounts = trading_accounts_for(user=request.user)
    if instrument is not None:
        accounts = accounts.filter(currency=instrument.currency)
    context = {
        "form": form,
        "instrument": instrument,
        "accounts": list(accounts),
        "preview": preview,
    }
    template = "orders/_ticket.html" if request.htmx else "orders/new.html"
    return render(request, template, context)


def _form_errors(form: forms.Form, exc: ApplicationError) -> None:
    """An ApplicationError on the form: field errors next to their fields, the rest on top."""
    placed = False
    if exc.code == "invalid":
        for name, text in exc.details.items():
            if name in form.fields and name not in form.errors:
                form.add_error(name, str(text))
                placed = True
    if not placed:
        form.add_error(None, exc.message)


def _instrument_or_none(symbol: str) -> Instrument | None:
    try:
        return instrument_get(symbol=symbol) if symbol else None
    except ApplicationError:
        return None


@login_required
def order_new(request: HttpRequest) -> HttpResponse:
    """The order ticket: ``?symbol=`` and ``?account=`` pre-fill it."""
    symbol = request.GET.get("symbol", "").strip().upper()[:32]
    instrument = _instrument_or_none(symbol)
    account = None
    account_id = request.GET.get("account", "")
    if account_id.isdigit():
        account = trading_accounts_for(user=request.user).filter(pk=int(account_id)).first()
    form = ticket_form(user=request.user, instrument=instrument, account=account)
    if symbol and instrument is None:
        form.initial["symbol"] = symbol
        messages.error(request, f"No instrument {symbol}.")
    return _ticket_response(request, form, instrument)


@login_required
@require_POST
def order_place(request: HttpRequest) -> HttpResponse:
    """The ticket's target: ``action=preview`` shows what the order would cost and which rule
    would refuse it; anything else places it."""
    form = ticket_form(user=request.user, data=request.POST)
    instrument = _instrument_or_none(request.POST.get("symbol", "").strip().upper()[:32])
    if not form.is_valid():
        return _ticket_response(request, form, instrument)
    if instrument is None:
        form.add_error("symbol", f"No instrument {form.cleaned_data['symbol']}.")
        return _ticket_response(request, form, instrument)
    account = form.cleaned_data["account"]
    if request.POST.get("action") == "preview":
        assessment = services.order_assess(
            account=account, instrument=instrument, terms=form.terms()
        )
        return _ticket_response(request, form, instrument, _preview(assessment, account))
    terms = form.terms()
    try:
        order, created = services.order_place(
            account=account,
            instrument=instrument,
            side=terms.side,
            type=terms.type,
            quantity=terms.quantity,
            limit_price=terms.limit_price,
            stop_price=terms.stop_price,
            time_in_force=terms.time_in_force,
            expire_at=terms.expire_at,
            client_order_id=form.client_order_id(),
            actor=request.user,
        )
    except ApplicationError as exc:
        _form_errors(form, exc)
        return _ticket_response(request, form, instrument)
    if created:
        messages.success(
            request,
            f"Order placed: {order.get_side_display().lower()} "
            f"{order.quantity.normalize():f} {instrument.symbol}.",
        )
    url = reverse("orders:detail", args=[order.pk])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _own_order(request: HttpRequest, pk: int) -> Order:
    try:
        return selectors.order_for(user=request.user, pk=pk)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    """Open orders (cancel, replace) and the order history with fills; ``?account=``,
    ``?symbol=``, ``?status=`` filter the history."""
    accounts = list(trading_accounts_for(user=request.user))
    account_id = request.GET.get("account", "")
    account = next((a for a in accounts if str(a.pk) == account_id), None)
    symbol = request.GET.get("symbol", "").strip().upper()[:32]
    status = request.GET.get("status", "")
    if status not in OrderStatus.values:
        status = ""
    open_orders = list(
        selectors.orders_for(user=request.user, account=account, status="open", symbol=symbol)
    )
    history = Paginator(
        selectors.orders_for(
            user=request.user, account=account, status=status or None, symbol=symbol
        ).prefetch_related("fills__trade"),
        HISTORY_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "accounts": accounts,
        "account": account,
        "symbol": symbol,
        "status": status,
        "statuses": OrderStatus.choices,
        "open_orders": open_orders,
        "history": history,
        "query": query.urlencode(),
        "limit_types": _LIMIT_TYPES,
    }
    return render(request, "orders/list.html", context)


@login_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = _own_order(request, pk)
    fills = list(order.fills.select_related("trade").order_by("executed_at", "id"))
    changes = [
        {
            "at": record.history_date,
            "status": record.get_status_display(),
            "filled_quantity": record.filled_quantity,
            "quantity": record.quantity,
            "limit_price": record.limit_price,
            "note": record.history_change_reason or "",
        }
        for record in order.history.order_by("history_date", "history_id")
    ]
    context = {
        "order": order,
        "instrument": order.instrument,
        "fills": fills,
        "changes": changes,
        "is_open": order.status in OPEN_ORDER_STATUSES,
        "limit_types": _LIMIT_TYPES,
    }
    return render(request, "orders/detail.html", context)


@login_required
@require_POST
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    order = _own_order(request, pk)
    try:
        services.order_cancel(order=order, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Order {order.pk} cancelled; its hold is released.")
    return _back(request, reverse("orders:list"))


@login_required
@require_POST
def order_replace(request: HttpRequest, pk: int) -> HttpResponse:
    order = _own_order(request, pk)
    form = ReplaceForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Order {order.pk} not changed: {' '.join(errors)}")
        return _back(request, reverse("orders:list"))
    quantity = form.cleaned_data["quantity"]
    limit_price = form.cleaned_data["limit_price"]
    if order.type not in _LIMIT_TYPES:
        limit_price = None
    try:
        services.order_replace(
            order=order, actor=request.user, quantity=quantity, limit_price=limit_price
        )
    except ApplicationError as exc:
        details = "; ".join(
            str(v) for k, v in exc.details.items() if k in ("quantity", "limit_price")
        )
        messages.error(
            request,
            f"Order {order.pk} not changed: {exc.message}" + (f" {details}" if details else ""),
        )
    else:
        messages.success(request, f"Order {order.pk} changed.")
    return _back(request, reverse("orders:list"))
