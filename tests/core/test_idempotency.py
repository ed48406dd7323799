"""The Idempotency-Key mechanism, on the account-opening endpoint."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def test_same_key_same_body_replays_the_first_response(as_client, client_user):
    first = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert TradingAccount.objects.filter(owner=client_user).count() == 1


def test_same_key_different_body_is_a_conflict(as_client):
    as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-2")
    response = as_client.post("/api/v1/accounts", {"currency": "EUR"}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_refusals_are_replayed_too(as_client, client_user):
    first = as_client.post("/api/v1/accounts", {"currency": "XXX"}, HTTP_IDEMPOTENCY_KEY="k-3")
    again = as_client.post("/api/v1/accounts", {"currency": "XXX"}, HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()


def test_a_request_still_running_answers_409(as_client, client_user):
    first = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-4")
    record = IdempotencyRecord.objects.get(key="k-4")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state="in_progress", updated_at=timezone.now()
    )
    response = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert first.status_code == 201


def test_a_stale_in_progress_record_is_taken_over(as_client, client_user):
    as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-5")
    IdempotencyRecord.objects.filter(key="k-5").update(
        state="in_progress", updated_at=timezone.now() - timedelta(minutes=5)
    )
    response = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="k-5")
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get(key="k-5").state == "completed"


def test_keys_are_scoped_per_user(as_client, other_client):
    from tests.conftest import token_client

    other = token_client(other_client)
    a = as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="shared")
    b = other.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_an_overlong_key_is_invalid(as_client):
    response = as_client.post("/api/v1/accounts", {}, HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400


def test_old_records_are_purged(as_client):
    from apps.core.services import idempotency_records_purge

    as_client.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=40))
    assert idempotency_records_purge() == 1
