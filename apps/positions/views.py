"""Client portal pages of the positions app: positions and P&L per account, with each
position's tax lots.

A position is marked at its instrument's last trade price, else its reference price
(apps.positions.selectors.marks); unrealized P&L is market value less the open lots' cost,
realized P&L is split short and long term as the lots were held.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.selectors import trading_accounts_for
from apps.ledger.money import minor_unit
from apps.positions import selectors


@login_required
def positions_page(request: HttpRequest) -> HttpResponse:
    """``?account=`` picks the account (the first one otherwise)."""
    accounts = list(trading_accounts_for(user=request.user))
    wanted = request.GET.get("account", "")
    account = next((a for a in accounts if str(a.pk) == wanted), accounts[0] if accounts else None)
    context = {"accounts": accounts, "account": account}
    if account is not None:
        book = selectors.portfolio(account=account)
        rows = []
        for valuation in book.valuations:
            price = valuation.mark.price
            unit = minor_unit(valuation.currency)
            lots = [
                {
                    "lot": lot,
                    "term": selectors.lot_term(lot),
                    "unrealized": (
                        (lot.quantity * price - lot.cost).quantize(unit, ROUND_HALF_UP)
                        if price is not None
                        else None
                    ),
                }
                for lot in selectors.lots_for(position=valuation.position)
            ]
            rows.append({"valuation": valuation, "lots": lots})
        closed = [
            p
            for p in selectors.positions_for(
                user=request.user, account=account, include_closed=True
            )
            if p.quantity == 0 and p.realized_pnl
        ]
        context.update(book=book, rows=rows, closed=closed)
    return render(request, "positions/list.html", context)
