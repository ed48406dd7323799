"""The client's funding page: balances, deposit instructions, withdrawals (with a one-time
password when the client has a device) and the transaction history with running balances."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.selectors import trading_account_for, trading_accounts_for, user_otp_enabled
from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import WithdrawalStatus
from apps.ledger.forms import WithdrawalForm
from apps.ledger.money import cash_text

HISTORY_PAGE_SIZE = 25


@login_required
def funding_home(request: HttpRequest) -> HttpResponse:
    account = trading_accounts_for(user=request.user).first()
    if account is None:
        messages.info(request, "Open an account first; then you can fund it.")
        return redirect("accounts:overview")
    return redirect("ledger:funding", account_id=account.pk)


def _page(request: HttpRequest, account: object, form: WithdrawalForm) -> HttpResponse:
    balances = selectors.cash_balances(account=account)
    history = Paginator(
        selectors.account_transactions(account=account), HISTORY_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    lines = [
        {
            "posting": p,
            "amount": cash_text(p.amount, account.currency),
            "balance_after": cash_text(p.balance_after, account.currency),
        }
        for p in history
    ]
    context = {
        "account": account,
        "accounts": trading_accounts_for(user=request.user),
        "balances": balances,
        "instructions": selectors.deposit_instructions(account=account),
        "limits": selectors.withdrawal_limits(account=account),
        "form": form,
        "otp_enabled": user_otp_enabled(request.user),
        "withdrawals": [
            (w, cash_text(w.amount, w.currency))
            for w in selectors.withdrawals_for(user=request.user, account=account)[:10]
        ],
        "history": history,
        "lines": lines,
        "requested": WithdrawalStatus.REQUESTED,
    }
    return render(request, "ledger/funding.html", context)


def _own(lookup, **kwargs: object) -> object:
    """The client's own object, or a 404 page (another client's id is not found)."""
    try:
        return lookup(**kwargs)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
def funding(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _own(trading_account_for, user=request.user, pk=account_id)
    if request.method == "POST":
        form = WithdrawalForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                withdrawal = services.withdrawal_request(
                    account=account,
                    amount=data["amount"],
                    actor=request.user,
                    otp_token=data["otp_token"] or None,
                    destination=data["destination"],
                    idempotency_key=f"portal:{data['request_key']}",
                )
            except ApplicationError as exc:
                field = "otp_token" if exc.code == "otp_required" else None
                form.add_error(field, exc.message)
            else:
                messages.success(
                    request,
                    f"Withdrawal of {cash_text(withdrawal.amount, withdrawal.currency)} "
                    f"{withdrawal.currency} requested; it is reserved until paid out.",
                )
                return redirect("ledger:funding", account_id=account.pk)
    else:
        form = WithdrawalForm(initial={"request_key": uuid.uuid4().hex})
    return _page(request, account, form)


@login_required
@require_POST
def withdrawal_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    withdrawal = _own(selectors.withdrawal_for, user=request.user, pk=pk)
    try:
        services.withdrawal_cancel(withdrawal=withdrawal, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Withdrawal cancelled; the cash is back in your balance.")
    return redirect("ledger:funding", account_id=withdrawal.account_id)
