"""Every API error has the envelope {"error": {"code", "message", "details"}}."""

import pytest
from rest_framework.test import APIRequestFactory

from apps.core.api.exception_handler import envelope_exception_handler

pytestmark = pytest.mark.django_db


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_unknown_api_path_is_a_404_envelope(api):
    assert_envelope(api.get("/api/v1/no-such-thing"), 404, "not_found")


def test_unauthenticated_is_401(api):
    error = assert_envelope(api.get("/api/v1/me"), 401, "not_authenticated")
    assert error["details"] == {}


def test_bad_token_is_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_envelope(api.get("/api/v1/me"), 401, "not_authenticated")


def test_validation_errors_name_the_fields(api):
    error = assert_envelope(
        api.post("/api/v1/auth/register", {"email": "not-an-email"}), 400, "invalid"
    )
    assert {"email", "password", "first_name", "last_name"} <= set(error["details"])


def test_malformed_json_is_invalid(api):
    response = api.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert_envelope(response, 400, "invalid")


def test_method_not_allowed(as_client):
    assert_envelope(as_client.delete("/api/v1/me"), 405, "method_not_allowed")


def test_missing_object_is_404(as_client):
    assert_envelope(as_client.get("/api/v1/accounts/999999"), 404, "not_found")


def test_unexpected_exceptions_become_a_500_envelope():
    request = APIRequestFactory().get("/api/v1/anything")
    response = envelope_exception_handler(RuntimeError("boom"), {"request": request})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "server_error"
    assert "boom" not in response.data["error"]["message"]  # internals stay in the logs


def test_throttled_is_429(api):
    for _ in range(10):
        api.post("/api/v1/auth/token", {"email": f"x{_}@example.com", "password": "wrong"})
    error = assert_envelope(
        api.post("/api/v1/auth/token", {"email": "y@example.com", "password": "wrong"}),
        429,
        "throttled",
    )
    assert error["details"]["retry_after"] >= 1
