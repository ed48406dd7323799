"""The instrument API: staff create and edit instruments and halt them; clients list,
search, filter and read them with their market state and halt."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.instruments.models import Instrument
from tests.factories.instruments import InstrumentFactory

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/backoffice/instruments"

APPLE = {
    "symbol": "aapl",
    "name": "Apple Inc.",
    "asset_class": "equity",
    "currency": "USD",
    "tick_size": "0.01",
    "lot_size": "1",
    "calendar": "XNYS",
    "reference_price": "268.47",
    "isin": "US0378331005",
}


@pytest.fixture
def ops(as_staff):
    return as_staff("broker_operations")


# --- Create ---------------------------------------------------------------------------------


def test_operations_lists_an_instrument(ops):
    response = ops.post(CREATE, APPLE)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["symbol"] == "AAPL"
    assert body["cusip"] == "037833100"  # read from the ISIN
    assert body["settlement_cycle"] == 1  # US equities: T+1
    assert body["calendar"] == "XNYS"
    assert body["tick_size"] == "0.01000000"
    assert body["reference_price"] == "268.47000000"
    assert body["price_band"] == {"low": "241.63", "high": "295.31"}
    assert body["status"] == "listed"
    assert body["market_state"] in {"closed", "pre_open", "open"}
    instrument = Instrument.objects.get(symbol="AAPL")
    assert instrument.history.first().history_user == ops.user


def test_gold_by_the_gram_round_the_clock(ops):
    response = ops.post(
        CREATE,
        {
            "symbol": "XAU-G",
            "name": "Gold, per gram",
            "asset_class": "commodity",
            "tick_size": "0.01",
            "lot_size": "0.001",
            "calendar": "24x7",
            "reference_price": "128.64",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["settlement_cycle"], body["lot_size"], body["min_quantity"]) == (
        2,
        "0.00100000",
        "0.00100000",
    )
    assert body["market_state"] == "open"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"isin": "US0378331006"}, "isin"),  # wrong check digit
        ({"isin": "US037833100"}, "isin"),  # too short
        ({"isin": "", "cusip": "037833101"}, "cusip"),  # wrong CUSIP check digit
        ({"cusip": "594918104"}, "cusip"),  # Microsoft's CUSIP with Apple's ISIN
        ({"isin": ""}, "isin"),  # an equity needs an identifier
        ({"tick_size": "0"}, "tick_size"),
        ({"tick_size": "-0.01"}, "tick_size"),
        ({"tick_size": "0.000000001"}, "tick_size"),  # beyond 8 decimals
        ({"tick_size": "abc"}, "tick_size"),
        ({"reference_price": "268.475"}, "reference_price"),  # off the tick grid
        ({"lot_size": "0"}, "lot_size"),
        ({"lot_size": "0.5", "min_quantity": "0.75"}, "min_quantity"),
        ({"price_band_pct": "0"}, "price_band_pct"),
        ({"calendar": "XPAR"}, "calendar"),
        ({"currency": "XYZ"}, "currency"),
        ({"symbol": "APPLE INC"}, "symbol"),
        ({"asset_class": "crypto"}, "asset_class"),
        ({"settlement_cycle": 11}, "settlement_cycle"),
    ],
)
def test_bad_terms_answer_400_naming_the_field(ops, change, field):
    response = ops.post(CREATE, {**APPLE, **change})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert not Instrument.objects.filter(symbol="AAPL").exists()


def test_a_symbol_or_isin_is_listed_once(ops):
    assert ops.post(CREATE, APPLE).status_code == 201
    again = ops.post(CREATE, APPLE)
    assert again.status_code == 400
    assert {"symbol", "isin", "cusip"} <= set(again.json()["error"]["details"])


@pytest.mark.parametrize("role", ["support", "risk", "compliance"])
def test_only_operations_creates(as_staff, role):
    response = as_staff(role).post(CREATE, APPLE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_clients_and_strangers_cannot_create(as_client, api):
    assert as_client.post(CREATE, APPLE).status_code == 403
    assert api.post(CREATE, APPLE).status_code == 401


def test_edit_terms_with_a_reason(ops, stock):
    url = f"{CREATE}/ACME"
    missing_reason = ops.patch(url, {"tick_size": "0.05"})
    assert missing_reason.status_code == 400
    response = ops.patch(
        url, {"tick_size": "0.05", "reference_price": "100.05", "reason": "Tick pilot"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tick_size"] == "0.05000000"
    stock.refresh_from_db()
    assert stock.history.first().history_change_reason == "Tick pilot"
    off_grid = ops.patch(url, {"reference_price": "100.01", "reason": "Typo"})
    assert off_grid.status_code == 400
    assert "reference_price" in off_grid.json()["error"]["details"]
    assert ops.patch(url, {"symbol": "ACM2", "reason": "Rename"}).json().get("symbol") == "ACME"


def test_support_cannot_edit(as_staff, stock):
    response = as_staff("support").patch(f"{CREATE}/ACME", {"name": "X", "reason": "Because"})
    assert response.status_code == 403


# --- Halt and resume ------------------------------------------------------------------------


def test_halt_and_resume_through_the_api(as_staff, as_client, stock):
    risk = as_staff("risk")
    halted = risk.post(
        f"{CREATE}/ACME/halt",
        {"reason": "News pending: results at 14:00", "kind": "news_pending"},
    )
    assert halted.status_code == 200, halted.json()
    assert halted.json()["status"] == "halted"
    assert halted.json()["market_state"] == "halted"
    assert halted.json()["halt"]["reason"] == "News pending: results at 14:00"

    seen = as_client.get("/api/v1/instruments/ACME").json()
    assert seen["market_state"] == "halted"
    assert seen["halt"]["kind"] == "news_pending"
    assert seen["halt"]["reason"] == "News pending: results at 14:00"

    again = risk.post(f"{CREATE}/ACME/halt", {"reason": "Twice"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"

    resumed = as_staff("compliance").post(f"{CREATE}/ACME/resume", {"reason": "News out"})
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "listed"
    assert resumed.json()["halt"] is None
    assert as_client.get("/api/v1/instruments/ACME").json()["halt"] is None

    history = as_staff("support").get(f"{CREATE}/ACME/halts").json()
    assert history["count"] == 1
    record = history["results"][0]
    assert record["started_by"] == risk.user.email
    assert record["end_reason"] == "News out"


def test_halt_with_planned_resumption(as_staff, stock):
    resume_at = (dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    response = as_staff("risk").post(
        f"{CREATE}/ACME/halt",
        {"reason": "Volatility pause", "kind": "volatility", "resume_at": resume_at},
    )
    assert response.status_code == 200
    assert response.json()["halt"]["resume_at"] is not None


def test_halt_needs_a_reason_and_the_right_role(as_staff, as_client, stock):
    ops = as_staff("broker_operations")
    assert ops.post(f"{CREATE}/ACME/halt", {}).status_code == 400
    assert as_staff("support").post(f"{CREATE}/ACME/halt", {"reason": "Hmm"}).status_code == 403
    assert as_client.post(f"{CREATE}/ACME/halt", {"reason": "Me"}).status_code == 403
    assert as_staff("risk").post(f"{CREATE}/ACME/delist", {"reason": "Gone"}).status_code == 403
    assert ops.post(f"{CREATE}/NOPE/halt", {"reason": "Missing"}).status_code == 404


def test_suspend_reinstate_delist(as_staff, stock):
    ops = as_staff("broker_operations")
    assert ops.post(f"{CREATE}/ACME/suspend", {"reason": "SEC order"}).json()["status"] == (
        "suspended"
    )
    assert ops.post(f"{CREATE}/ACME/reinstate", {"reason": "Lifted"}).json()["status"] == "listed"
    delisted = ops.post(f"{CREATE}/ACME/delist", {"reason": "Acquired"})
    assert delisted.json()["status"] == "delisted"
    assert ops.post(f"{CREATE}/ACME/reinstate", {"reason": "Relist"}).status_code == 409


# --- Client reads ---------------------------------------------------------------------------


@pytest.fixture
def catalogue(db):
    InstrumentFactory(symbol="AAPL", name="Apple Inc.")
    InstrumentFactory(symbol="MSFT", name="Microsoft Corporation")
    InstrumentFactory(symbol="SPY", name="SPDR S&P 500 ETF Trust", asset_class="etf")
    InstrumentFactory(symbol="SAP", name="SAP SE", currency="EUR", isin="DE0007164600")
    InstrumentFactory(
        symbol="XAU-G", name="Gold, per gram", asset_class="commodity", isin="", calendar="24x7"
    )


def symbols(response):
    assert response.status_code == 200, response.json()
    return [row["symbol"] for row in response.json()["results"]]


def test_list_search_and_filter(as_client, catalogue, superuser):
    from apps.instruments import services

    services.instrument_halt(
        instrument=Instrument.objects.get(symbol="MSFT"), actor=superuser, reason="News"
    )
    everything = as_client.get("/api/v1/instruments")
    assert everything.json()["count"] == 5
    assert symbols(everything) == ["AAPL", "MSFT", "SAP", "SPY", "XAU-G"]
    assert symbols(as_client.get("/api/v1/instruments?search=sp")) == ["SPY"]
    assert symbols(as_client.get("/api/v1/instruments?search=apple")) == ["AAPL"]
    assert symbols(as_client.get("/api/v1/instruments?search=corp")) == ["MSFT"]
    assert symbols(as_client.get("/api/v1/instruments?asset_class=etf")) == ["SPY"]
    assert symbols(as_client.get("/api/v1/instruments?currency=eur")) == ["SAP"]
    assert symbols(as_client.get("/api/v1/instruments?status=halted")) == ["MSFT"]
    assert symbols(as_client.get("/api/v1/instruments?calendar=24x7")) == ["XAU-G"]
    halted = as_client.get("/api/v1/instruments?status=halted").json()["results"][0]
    assert (halted["market_state"], halted["halt"]["reason"]) == ("halted", "News")
    bad = as_client.get("/api/v1/instruments?asset_class=crypto")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    page = as_client.get("/api/v1/instruments?page_size=2").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]


def test_list_query_count_does_not_grow_with_instruments(as_client, superuser):
    from apps.instruments import services

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert as_client.get("/api/v1/instruments?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    for n in range(3):
        InstrumentFactory(calendar="24x7" if n == 0 else "XNYS")
    queries()  # warms the per-process schedules of both calendars
    few = queries()
    for n in range(20):
        instrument = InstrumentFactory(calendar="24x7" if n % 2 else "XNYS")
        if n % 3 == 0:
            services.instrument_halt(instrument=instrument, actor=superuser, reason="News")
    assert queries() == few
    assert few <= 5  # token, count, page, open halts (+ the token's last-use touch)


def test_detail(as_client, stock):
    response = as_client.get("/api/v1/instruments/acme")
    assert response.status_code == 200
    body = response.json()
    assert body["symbol"] == "ACME"
    assert body["timezone"] == "America/New_York"
    assert body["market_state"] in {"closed", "pre_open", "open"}
    assert body["halt"] is None
    session = body["next_session"]
    assert session["open_at"] < session["close_at"]
    assert body["accredited_only"] is False
    missing = as_client.get("/api/v1/instruments/NOPE")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_reads_need_a_sign_in(api, stock):
    assert api.get("/api/v1/instruments").status_code == 401
    assert api.get("/api/v1/instruments/ACME").status_code == 401


def test_clients_cannot_write_through_the_reference_endpoints(as_client, stock):
    assert as_client.post("/api/v1/instruments", APPLE).status_code == 405
    assert as_client.delete("/api/v1/instruments/ACME").status_code == 405


# --- Calendars ------------------------------------------------------------------------------


def test_calendars_list_and_detail(as_client):
    codes = [c["code"] for c in as_client.get("/api/v1/calendars").json()["results"]]
    assert codes == ["24x7", "SIFMA", "XNYS"]
    nyse = as_client.get("/api/v1/calendars/xnys").json()
    assert (nyse["timezone"], nyse["open_time"], nyse["close_time"]) == (
        "America/New_York",
        "09:30:00",
        "16:00:00",
    )
    assert nyse["trading_days"] == "Mon, Tue, Wed, Thu, Fri"
    assert len(nyse["sessions"]) == 5
    kinds = {day["kind"] for day in nyse["special_days"]}
    assert kinds == {"closed", "early_close"}  # a year ahead holds both
    assert as_client.get("/api/v1/calendars/NOPE").status_code == 404


def test_staff_add_and_remove_closures(as_staff, as_client):
    url = "/api/v1/backoffice/calendars/XNYS/closures"
    ops = as_staff("broker_operations")
    created = ops.post(
        url, {"date": "2030-03-12", "kind": "closed", "reason": "National day of mourning"}
    )
    assert created.status_code == 201, created.json()
    assert created.json()["created_by"] == ops.user.email
    days = as_staff("support").get(url).json()
    assert [d["date"] for d in days] == ["2030-03-12"]
    assert as_staff("support").post(url, {"date": "2030-03-13", "reason": "x y z"}).status_code == (
        403
    )
    bad = ops.post(url, {"date": "2030-03-13", "kind": "early_close", "reason": "No time"})
    assert bad.status_code == 400 and "close_time" in bad.json()["error"]["details"]

    assert ops.delete(f"{url}/2030-03-12", {}).status_code == 400  # a reason is required
    removed = ops.delete(f"{url}/2030-03-12", {"reason": "Proclamation withdrawn"})
    assert removed.status_code == 204
    assert ops.delete(f"{url}/2030-03-12", {"reason": "Again"}).status_code == 404
    assert as_client.get(url).status_code == 403
