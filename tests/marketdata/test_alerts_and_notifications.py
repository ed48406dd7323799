"""Price alerts evaluated on every print, notifying once, through the channels each user
chose; notify() for the rest of Bourse; the alerts, notifications and preferences API."""

from decimal import Decimal

import pytest
from django.core import mail

from apps.core.models import OutboxMessage
from apps.marketdata import services
from apps.marketdata.choices import AlertStatus
from apps.marketdata.models import Notification, PriceAlert
from tests.factories.accounts import ClientFactory
from tests.factories.marketdata import trade

from .conftest import api_token, open_socket, run

pytestmark = pytest.mark.django_db


def alert(user, instrument, condition, threshold, base=None):
    return services.price_alert_create(
        user=user,
        instrument=instrument,
        condition=condition,
        threshold=Decimal(threshold),
        base_price=Decimal(base) if base else None,
    )


def apply(instrument, *prints, capture):
    with capture(execute=True):
        return services.market_data_apply(instrument=instrument, trades=list(prints), book=None)


def test_above_triggers_once_at_the_first_print_through_it(
    instrument, client_user, django_capture_on_commit_callbacks
):
    watch = alert(client_user, instrument, "above", "105.00")
    result = apply(
        instrument,
        trade("104.00", trade_id="A"),
        trade("105.50", seconds=1, trade_id="B"),
        trade("106.00", seconds=2, trade_id="C"),
        capture=django_capture_on_commit_callbacks,
    )
    assert result.triggered_alert_ids == (watch.pk,)
    watch.refresh_from_db()
    assert watch.status == AlertStatus.TRIGGERED
    assert (watch.triggered_price, watch.triggered_trade_id) == (Decimal("105.50"), "B")
    assert watch.history.first().history_change_reason == "Trade B at 105.50"

    [notification] = Notification.objects.filter(user=client_user)
    assert notification.subject == "Price alert: ACME at 105.50"
    assert "at or above your alert at 105.00" in notification.body
    assert notification.data["alert_id"] == watch.pk
    assert [m.to for m in mail.outbox] == [[client_user.email]]
    assert mail.outbox[0].subject == "[Bourse] Price alert: ACME at 105.50"
    notification.refresh_from_db()
    assert notification.emailed_at is not None

    # Later prints through the level: nothing more.
    apply(instrument, trade("107.00", seconds=3), capture=django_capture_on_commit_callbacks)
    assert Notification.objects.filter(user=client_user).count() == 1
    assert len(mail.outbox) == 1


def test_below_and_percent_move(instrument, client_user, django_capture_on_commit_callbacks):
    below = alert(client_user, instrument, "below", "95.00")
    move = alert(client_user, instrument, "percent_move", "5", base="100.00")
    untouched = alert(client_user, instrument, "above", "200.00")
    apply(instrument, trade("96.00"), capture=django_capture_on_commit_callbacks)
    assert PriceAlert.objects.filter(status=AlertStatus.ACTIVE).count() == 3
    apply(instrument, trade("94.99", seconds=1), capture=django_capture_on_commit_callbacks)
    below.refresh_from_db()
    move.refresh_from_db()
    untouched.refresh_from_db()
    assert below.status == AlertStatus.TRIGGERED
    assert move.status == AlertStatus.TRIGGERED and move.triggered_price == Decimal("94.99")
    assert untouched.status == AlertStatus.ACTIVE
    bodies = sorted(n.body for n in Notification.objects.all())
    assert any("-5.01% from 100.00" in b for b in bodies)


def test_a_move_up_triggers_too(instrument, client_user, django_capture_on_commit_callbacks):
    move = alert(client_user, instrument, "percent_move", "2.5", base="40.00")
    apply(instrument, trade("40.99"), capture=django_capture_on_commit_callbacks)
    move.refresh_from_db()
    assert move.status == AlertStatus.ACTIVE
    apply(instrument, trade("41.00", seconds=1), capture=django_capture_on_commit_callbacks)
    move.refresh_from_db()
    assert move.status == AlertStatus.TRIGGERED


def test_a_replayed_batch_notifies_nobody_twice(
    instrument, client_user, django_capture_on_commit_callbacks
):
    alert(client_user, instrument, "above", "10.00")
    batch = [trade("11.00", trade_id="R1")]
    apply(instrument, *batch, capture=django_capture_on_commit_callbacks)
    apply(instrument, *batch, capture=django_capture_on_commit_callbacks)
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_preferences_decide_the_channels(
    instrument, client_user, django_capture_on_commit_callbacks
):
    services.notification_preferences_update(
        user=client_user, preferences={"price_alert": {"email": False}}
    )
    alert(client_user, instrument, "above", "10.00")
    apply(instrument, trade("10.00"), capture=django_capture_on_commit_callbacks)
    notification = Notification.objects.get(user=client_user)
    assert (notification.in_app, notification.email) == (True, False)
    assert mail.outbox == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_notify_is_once_per_key_and_reaches_the_portal_live(client_user, other_client):
    token = api_token(client_user)
    services.notification_preferences_update(
        user=other_client, preferences={"order_fill": {"in_app": False, "email": False}}
    )

    async def scenario():
        from channels.db import database_sync_to_async

        socket = await open_socket(token=token)
        await socket.subscribe("notifications")
        first = await database_sync_to_async(services.notify)(
            user=client_user,
            event="order_fill",
            subject="Bought 10 ACME at 100.00",
            body="Your order 7 filled.",
            data={"order_id": 7, "price": Decimal("100.00")},
            key="order_fill:7",
        )
        again = await database_sync_to_async(services.notify)(
            user=client_user, event="order_fill", subject="x", body="y", key="order_fill:7"
        )
        assert again.pk == first.pk
        live = await socket.receive()
        assert live["channel"] == "notifications" and live["seq"] == 1
        assert live["data"]["subject"] == "Bought 10 ACME at 100.00"
        assert live["data"]["data"] == {"order_id": 7, "price": "100.00"}
        assert await socket.nothing(0.4)
        # Someone who turned everything off still has the record, and nothing else.
        quiet = await database_sync_to_async(services.notify)(
            user=other_client, event="order_fill", subject="Filled", body="Filled."
        )
        assert (quiet.in_app, quiet.email) == (False, False)
        await socket.close()

    run(scenario)
    assert [m.subject for m in mail.outbox] == ["[Bourse] Bought 10 ACME at 100.00"]


def test_the_email_task_sends_once(client_user, django_capture_on_commit_callbacks):
    from apps.marketdata.tasks import notify_email

    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(
            user=client_user, event="deposit", subject="Deposit received", body="USD 100.00"
        )
    assert len(mail.outbox) == 1
    assert notify_email.apply(args=[notification.pk]).get() is False
    assert len(mail.outbox) == 1


def test_notify_refuses_an_unknown_event(client_user):
    with pytest.raises(ValueError, match="event"):
        services.notify(user=client_user, event="birthday", subject="x", body="y")


# --- The API --------------------------------------------------------------------------------


def test_alerts_api(instrument, client_user, as_client, other_client):
    created = as_client.post(
        "/api/v1/alerts", {"symbol": "acme", "condition": "above", "threshold": "105.5"}
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["symbol"], body["condition"], body["threshold"], body["status"]) == (
        "ACME",
        "above",
        "105.50",
        "active",
    )
    listed = as_client.get("/api/v1/alerts", {"status": "active"}).json()
    assert [a["id"] for a in listed["results"]] == [body["id"]]

    theirs = alert(other_client, instrument, "below", "1.00")
    assert as_client.get(f"/api/v1/alerts/{theirs.pk}").status_code == 404
    assert as_client.delete(f"/api/v1/alerts/{theirs.pk}").status_code == 404

    cancelled = as_client.delete(f"/api/v1/alerts/{body['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = as_client.delete(f"/api/v1/alerts/{body['id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"symbol": "ACME", "condition": "sideways", "threshold": "1"}, "condition"),
        ({"symbol": "ACME", "condition": "above", "threshold": "0"}, "threshold"),
        (
            {"symbol": "ACME", "condition": "percent_move", "threshold": "5000", "base_price": "1"},
            "threshold",
        ),
        ({"symbol": "ACME", "condition": "percent_move", "threshold": "5"}, "base_price"),
    ],
)
def test_alerts_api_explains_bad_input(instrument, as_client, payload, field):
    response = as_client.post("/api/v1/alerts", payload)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_percent_alert_defaults_to_the_last_price(
    instrument, as_client, django_capture_on_commit_callbacks
):
    apply(instrument, trade("50.00"), capture=django_capture_on_commit_callbacks)
    body = as_client.post(
        "/api/v1/alerts", {"symbol": "ACME", "condition": "percent_move", "threshold": "3"}
    ).json()
    assert (body["base_price"], body["threshold"]) == ("50.00", "3")


def test_active_alerts_are_limited(instrument, client_user, as_client, settings):
    settings.MARKETDATA_MAX_ACTIVE_ALERTS = 1
    alert(client_user, instrument, "above", "1")
    response = as_client.post(
        "/api/v1/alerts", {"symbol": "ACME", "condition": "above", "threshold": "2"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "limit_exceeded"


def test_notifications_api(client_user, as_client, django_assert_max_num_queries):
    for n in range(3):
        services.notify(user=client_user, event="deposit", subject=f"Deposit {n}", body="Funds in.")
    services.notify(user=ClientFactory(), event="deposit", subject="Not yours", body="-")
    as_client.get("/api/v1/me")
    with django_assert_max_num_queries(4):
        listed = as_client.get("/api/v1/notifications").json()
    assert listed["count"] == 3
    assert [n["subject"] for n in listed["results"]] == ["Deposit 2", "Deposit 1", "Deposit 0"]
    first = listed["results"][0]["id"]
    assert as_client.post(f"/api/v1/notifications/{first}/read").json()["read"] is True
    assert as_client.get("/api/v1/notifications", {"unread": "true"}).json()["count"] == 2
    assert as_client.post("/api/v1/notifications/read-all").json() == {"marked": 2}
    others = Notification.objects.exclude(user=client_user).get()
    assert as_client.post(f"/api/v1/notifications/{others.pk}/read").status_code == 404


def test_preferences_api(client_user, as_client):
    defaults = as_client.get("/api/v1/notification-preferences").json()
    assert [(p["event"], p["in_app"], p["email"]) for p in defaults] == [
        ("price_alert", True, True),
        ("order_fill", True, True),
        ("deposit", True, True),
    ]
    changed = as_client.patch(
        "/api/v1/notification-preferences",
        {"preferences": [{"event": "order_fill", "email": False}]},
        format="json",
    )
    assert changed.status_code == 200
    assert {p["event"]: (p["in_app"], p["email"]) for p in changed.json()}["order_fill"] == (
        True,
        False,
    )
    bad = as_client.patch(
        "/api/v1/notification-preferences",
        {"preferences": [{"event": "weather", "email": False}]},
        format="json",
    )
    assert bad.status_code == 400
