"""Who may open the feed: session or token, never anonymous; staff only with a second factor;
a per-user connection limit; private channels only ever carry the connection's own user."""

import pytest

from apps.marketdata import services
from tests.factories.accounts import ClientFactory, StaffFactory

from .conftest import api_token, open_socket, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_connection_is_told_why_and_closed():
    async def scenario():
        socket = await open_socket()
        error = await socket.receive()
        assert error["channel"] == "error"
        assert error["data"]["code"] == "not_authenticated"
        assert "token" in error["data"]["message"]
        assert await socket.closed_with() == 4401

    run(scenario)


def test_an_unknown_token_is_refused():
    async def scenario():
        socket = await open_socket(token="not-a-real-token", origin=None)
        error = await socket.receive()
        assert error["data"] == {
            "code": "not_authenticated",
            "message": "The token is invalid or has expired.",
        }
        assert await socket.closed_with() == 4401

    run(scenario)


def test_a_token_connects_without_an_origin(client_user):
    token = api_token(client_user)

    async def scenario():
        socket = await open_socket(token=token, origin=None)
        ack = await socket.subscribe("orders")
        assert ack == {"channel": "subscribed", "data": {"channel": "orders"}}
        await socket.close()

    run(scenario)


def test_a_session_connects_from_the_portal(client_user):
    cookie = session_cookie(client_user)

    async def scenario():
        socket = await open_socket(cookie=cookie)
        assert (await socket.subscribe("account"))["channel"] == "subscribed"
        await socket.close()

    run(scenario)


def test_a_session_from_another_site_is_refused_at_the_handshake(client_user):
    cookie = session_cookie(client_user)

    async def scenario():
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        communicator = WebsocketCommunicator(
            application,
            "/ws/",
            headers=[
                (b"origin", b"https://evil.example"),
                (b"cookie", f"sessionid={cookie}".encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=5)
        assert not connected

    run(scenario)


def test_staff_token_without_a_second_factor_is_refused(db):
    staff = StaffFactory()
    # A staff token is only issued with an OTP; one without it (an old or forged record)
    # must still not open the feed.
    from apps.accounts.models import ApiToken

    token = api_token(staff, otp=True)
    ApiToken.objects.filter(user=staff).update(otp_verified=False)

    async def scenario():
        socket = await open_socket(token=token, origin=None)
        error = await socket.receive()
        assert error["data"]["code"] == "otp_required"
        assert await socket.closed_with() == 4401

    run(scenario)


def test_staff_token_with_a_second_factor_connects(db):
    staff = StaffFactory()
    token = api_token(staff, otp=True)

    async def scenario():
        socket = await open_socket(token=token, origin=None)
        assert (await socket.subscribe("orders"))["channel"] == "subscribed"
        await socket.close()

    run(scenario)


def test_staff_session_needs_a_verified_device(db):
    staff = StaffFactory()
    unverified, verified = session_cookie(staff), session_cookie(staff, otp=True)

    async def scenario():
        refused = await open_socket(cookie=unverified)
        assert (await refused.receive())["data"]["code"] == "otp_required"
        assert await refused.closed_with() == 4401
        accepted = await open_socket(cookie=verified)
        assert (await accepted.subscribe("orders"))["channel"] == "subscribed"
        await accepted.close()

    run(scenario)


def test_connections_count_against_a_per_user_limit(client_user, settings):
    settings.MARKETDATA_WS_MAX_CONNECTIONS_PER_USER = 2
    token = api_token(client_user)
    other = api_token(ClientFactory())

    async def scenario():
        first = await open_socket(token=token)
        second = await open_socket(token=token)
        third = await open_socket(token=token)
        error = await third.receive()
        assert error["data"]["code"] == "limit_exceeded"
        assert error["data"]["details"] == {"limit": 2}
        assert await third.closed_with() == 4429
        # Another user is not affected; a closed connection frees its slot.
        someone_else = await open_socket(token=other)
        assert (await someone_else.subscribe("orders"))["channel"] == "subscribed"
        await first.close()
        again = await open_socket(token=token)
        assert (await again.subscribe("orders"))["channel"] == "subscribed"
        for socket in (second, someone_else, again):
            await socket.close()

    run(scenario)


def test_another_users_private_updates_never_arrive(client_user, other_client):
    mine, theirs = api_token(client_user), api_token(other_client)

    async def scenario():
        from channels.db import database_sync_to_async

        me = await open_socket(token=mine)
        them = await open_socket(token=theirs)
        for socket in (me, them):
            assert (await socket.subscribe("orders"))["channel"] == "subscribed"
        # There is no way to name another user's stream: extra fields are ignored.
        await me.send({"action": "subscribe", "channel": "orders", "user_id": other_client.pk})
        assert (await me.receive())["channel"] == "subscribed"

        await database_sync_to_async(services.private_publish)(
            user_id=other_client.pk, channel="orders", data={"id": 7, "status": "filled"}
        )
        received = await them.receive()
        assert received == {"channel": "orders", "seq": 1, "data": {"id": 7, "status": "filled"}}
        assert await me.nothing(0.6)

        await database_sync_to_async(services.private_publish)(
            user_id=client_user.pk, channel="orders", data={"id": 8, "status": "accepted"}
        )
        assert (await me.receive())["data"] == {"id": 8, "status": "accepted"}
        assert await them.nothing(0.3)
        await me.close()
        await them.close()

    run(scenario)
