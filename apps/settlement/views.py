"""The client's settlements page: what is still to settle on which date (with failed ones
explained), and what has settled."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.accounts.selectors import trading_account_for, trading_accounts_for
from apps.core.errors import ApplicationError
from apps.ledger.money import cash_text
from apps.ledger.selectors import cash_balances
from apps.settlement import selectors

SETTLED_PAGE_SIZE = 25


@login_required
def settlements_home(request: HttpRequest) -> HttpResponse:
    account = trading_accounts_for(user=request.user).first()
    if account is None:
        messages.info(request, "Open an account first; its trades settle here.")
        return redirect("accounts:overview")
    return redirect("settlement:settlements", account_id=account.pk)


def _line(row: object) -> dict:
    return {
        "row": row,
        "quantity": f"{row.quantity.normalize():f}",
        "cash": cash_text(row.cash_amount, row.currency),
    }


@login_required
def settlements(request: HttpRequest, account_id: int) -> HttpResponse:
    try:
        account = trading_account_for(user=request.user, pk=account_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    outstanding = selectors.instructions_for(user=request.user, account=account, outstanding=True)
    finished = Paginator(
        selectors.instructions_for(user=request.user, account=account, outstanding=False),
        SETTLED_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    totals = selectors.settlement_totals(user=request.user, account=account)
    context = {
        "account": account,
        "accounts": trading_accounts_for(user=request.user),
        "balances": cash_balances(account=account),
        "proceeds": cash_text(totals["proceeds"], account.currency),
        "purchases": cash_text(totals["purchases"], account.currency),
        "failed": totals["failed"],
        "outstanding": [_line(r) for r in outstanding],
        "finished": finished,
        "finished_lines": [_line(r) for r in finished],
    }
    return render(request, "settlement/settlements.html", context)
