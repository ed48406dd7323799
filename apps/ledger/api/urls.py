"""API routes of the ledger app (under /api/v1/)."""

from django.urls import path

from apps.ledger.api import views

urlpatterns = [
    path(
        "accounts/<int:pk>/balances",
        views.AccountBalancesApi.as_view(),
        name="account-balances",
    ),
    path(
        "accounts/<int:pk>/transactions",
        views.AccountTransactionsApi.as_view(),
        name="account-transactions",
    ),
    path(
        "accounts/<int:pk>/deposit-instructions",
        views.DepositInstructionsApi.as_view(),
        name="account-deposit-instructions",
    ),
    path(
        "accounts/<int:pk>/withdrawals",
        views.AccountWithdrawalsApi.as_view(),
        name="account-withdrawals",
    ),
    path("withdrawals", views.WithdrawalListApi.as_view(), name="withdrawal-list"),
    path("withdrawals/<int:pk>", views.WithdrawalDetailApi.as_view(), name="withdrawal-detail"),
    path(
        "withdrawals/<int:pk>/cancel",
        views.WithdrawalCancelApi.as_view(),
        name="withdrawal-cancel",
    ),
    path("webhooks/bank", views.BankWebhookApi.as_view(), name="webhook-bank"),
    path(
        "backoffice/accounts/<int:pk>/balances",
        views.AccountBalancesApi.as_view(backoffice=True),
        name="backoffice-account-balances",
    ),
    path(
        "backoffice/withdrawals",
        views.WithdrawalBackofficeListApi.as_view(),
        name="backoffice-withdrawal-list",
    ),
    path(
        "backoffice/withdrawals/<int:pk>",
        views.WithdrawalBackofficeDetailApi.as_view(),
        name="backoffice-withdrawal-detail",
    ),
    *[
        path(
            f"backoffice/withdrawals/<int:pk>/{action}",
            views.WithdrawalActionApi.as_view(action_name=action),
            name=f"backoffice-withdrawal-{action}",
        )
        for action in views.WithdrawalActionApi.ACTIONS
    ],
    path(
        "backoffice/adjustments",
        views.AdjustmentListCreateApi.as_view(),
        name="backoffice-adjustment-list",
    ),
    *[
        path(
            f"backoffice/adjustments/<int:pk>/{action}",
            views.AdjustmentActionApi.as_view(action_name=action),
            name=f"backoffice-adjustment-{action}",
        )
        for action in views.AdjustmentActionApi.ACTIONS
    ],
    path(
        "backoffice/deposits",
        views.DepositBackofficeListApi.as_view(),
        name="backoffice-deposit-list",
    ),
    *[
        path(
            f"backoffice/deposits/<int:pk>/{action}",
            views.DepositActionApi.as_view(action_name=action),
            name=f"backoffice-deposit-{action}",
        )
        for action in views.DepositActionApi.ACTIONS
    ],
    path(
        "backoffice/ledger/reconciliation",
        views.ReconciliationApi.as_view(),
        name="backoffice-ledger-reconciliation",
    ),
]
