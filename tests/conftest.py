"""Shared fixtures. Tests run on real PostgreSQL and, when REDIS_URL is set, real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import accounts as account_factories

STATIC_OTP = "12345678"


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Each test starts with an empty cache (throttle counters, quotes), touching only the keys
    of this worker: other xdist workers share the Redis database."""
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache() -> None:
    if settings.REDIS_URL:
        client = cache._cache.get_client()
        keys = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _private_media(tmp_path_factory: pytest.TempPathFactory, settings) -> None:
    settings.PRIVATE_MEDIA_ROOT = tmp_path_factory.mktemp("private")


@pytest.fixture
def api() -> APIClient:
    return APIClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest-client/1.0")


@pytest.fixture
def client_user(db):
    return account_factories.ClientFactory()


@pytest.fixture
def other_client(db):
    return account_factories.ClientFactory()


@pytest.fixture
def staff_factory(db) -> Callable:
    """staff_factory("compliance") -> a staff user in that role with a static OTP device."""

    def make(role: str | None = None, **kwargs: object):
        return account_factories.StaffFactory(role=role, **kwargs)

    return make


@pytest.fixture
def superuser(db):
    return account_factories.StaffFactory(is_superuser=True)


def token_client(user, *, otp: str | None = None) -> APIClient:
    """An API client signed in through POST /api/v1/auth/token, as a real caller would."""
    client = APIClient(REMOTE_ADDR="203.0.113.8", HTTP_USER_AGENT="pytest-token/1.0")
    body = {"email": user.email, "password": account_factories.PASSWORD}
    if otp:
        body["otp_token"] = otp
    response = client.post("/api/v1/auth/token", body, format="json")
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


@pytest.fixture
def as_client(client_user) -> APIClient:
    return token_client(client_user)


@pytest.fixture
def as_staff(staff_factory) -> Callable[[str | None], APIClient]:
    """as_staff("broker_operations") -> an API client for a fresh staff user of that role."""

    def make(role: str | None = None, **kwargs: object) -> APIClient:
        user = staff_factory(role, **kwargs)
        client = token_client(user, otp=account_factories.next_static_token(user))
        client.user = user
        return client

    return make
