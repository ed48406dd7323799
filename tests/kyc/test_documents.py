"""Documents: checked from their content, size capped, stored privately, served only to their
owner and to staff allowed to see them, every access recorded."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from apps.kyc.choices import DocumentAccessChannel
from apps.kyc.models import DocumentAccess, KycDocument
from tests.conftest import token_client
from tests.factories.accounts import PASSWORD
from tests.factories.kyc import EXE, JPEG, PDF, PNG, KycApplicationFactory, upload

pytestmark = pytest.mark.django_db


def post(
    api, name, content, kind="government_id", content_type="application/octet-stream", **extra
):
    return api.post(
        "/api/v1/kyc/documents",
        {
            "kind": kind,
            "file": SimpleUploadedFile(name, content, content_type=content_type),
            **extra,
        },
        format="multipart",
    )


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("id.png", PNG, "image/png"),
        ("ID.JPG", JPEG, "image/jpeg"),
        ("scan.jpeg", JPEG, "image/jpeg"),
        ("bill.pdf", PDF, "application/pdf"),
    ],
)
def test_pdf_jpeg_and_png_are_accepted(as_client, client_user, name, content, mime):
    response = post(as_client, name, content, kind="proof_of_address")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["content_type"] == mime
    assert body["kind"] == "proof_of_address"
    assert body["file_name"] == name
    assert body["size"] == len(content)
    document = KycDocument.objects.get(pk=body["id"])
    assert document.application.user == client_user
    assert document.uploaded_by == client_user


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("id.pdf", PNG, "content is PNG"),  # a PNG renamed .pdf
        ("id.png", PDF, "content is PDF"),
        ("setup.exe", EXE, "Only PDF, JPEG and PNG"),
        ("setup.pdf", EXE, "Only PDF, JPEG and PNG"),  # an executable renamed .pdf
        ("elf.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "Only PDF, JPEG and PNG"),
        ("page.pdf", b"<html><script>alert(1)</script></html>", "Only PDF, JPEG and PNG"),
        ("id", PNG, "its name says"),
        ("empty.png", b"", "empty"),
        (
            "active.pdf",
            PDF.replace(
                b"/Type /Catalog",
                b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
            ),
            "scripts",
        ),
    ],
)
def test_bad_files_are_refused(as_client, client_user, name, content, message):
    response = post(as_client, name, content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert message in error["message"]
    assert "file" in error["details"]
    assert not KycDocument.objects.exists()


def test_oversize_files_are_refused(as_client, settings):
    settings.KYC_DOCUMENT_MAX_BYTES = 1024
    big = PNG + b"\x00" * 2000
    response = post(as_client, "big.png", big)
    assert response.status_code == 400
    assert "larger than" in response.json()["error"]["message"]
    assert not KycDocument.objects.exists()
    assert post(as_client, "small.png", PNG).status_code == 201


def test_kind_and_expiry_are_checked(as_client):
    assert post(as_client, "id.png", PNG, kind="passport_photo").status_code == 400
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    expired = post(as_client, "id.png", PNG, expires_on=yesterday)
    assert expired.status_code == 400
    assert "expires_on" in expired.json()["error"]["details"]
    wrong_kind = post(as_client, "b.pdf", PDF, kind="proof_of_address", expires_on="2031-01-01")
    assert wrong_kind.status_code == 400
    ok = post(as_client, "id.png", PNG, expires_on="2031-01-01")
    assert ok.status_code == 201
    assert ok.json()["expires_on"] == "2031-01-01"
    missing_file = as_client.post("/api/v1/kyc/documents", {"kind": "selfie"}, format="multipart")
    assert missing_file.status_code == 400


def test_files_are_stored_outside_the_public_media_path(client_user):
    document = upload(client_user, name="My Passport (scan).png")
    path = Path(document.file.path)
    assert path.is_file()
    assert path.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT))
    assert not path.is_relative_to(Path(settings.STATIC_ROOT))
    assert "Passport" not in path.name  # the client's file name never reaches the disk
    assert path.suffix == ".png"
    assert path.read_bytes() == PNG
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="no public URL"):
        document.file.url  # noqa: B018


def test_documents_can_be_added_only_while_the_application_is_editable():
    application = KycApplicationFactory(status="submitted")
    api = token_client(application.user)
    response = post(api, "id.png", PNG)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_owner_reads_their_document_and_the_access_is_recorded(as_client, client_user):
    document = upload(client_user, content=PDF, name="bill.pdf", kind="proof_of_address")
    response = as_client.get(
        f"/api/v1/kyc/documents/{document.pk}/file", HTTP_X_REQUEST_ID="req-doc-000001"
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    access = DocumentAccess.objects.get()
    assert (access.document, access.accessed_by, access.channel) == (
        document,
        client_user,
        DocumentAccessChannel.API,
    )
    assert access.correlation_id == "req-doc-000001"
    assert access.ip_address == "203.0.113.8"
    listed = as_client.get("/api/v1/kyc/documents").json()
    assert [d["id"] for d in listed["results"]] == [document.pk]


def test_another_client_gets_404(client_user, other_client):
    document = upload(client_user)
    api = token_client(other_client)
    response = api.get(f"/api/v1/kyc/documents/{document.pk}/file")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/kyc/documents").json()["count"] == 0
    browser = Client()
    browser.login(email=other_client.email, password=PASSWORD)
    assert browser.get(f"/kyc/documents/{document.pk}/").status_code == 404
    assert not DocumentAccess.objects.exists()


def test_owner_reads_it_in_the_portal(client_user):
    document = upload(client_user)
    browser = Client()
    browser.login(email=client_user.email, password=PASSWORD)
    response = browser.get(f"/kyc/documents/{document.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert DocumentAccess.objects.get().channel == DocumentAccessChannel.PORTAL


def test_compliance_reads_documents_and_each_access_is_recorded(client_user, as_staff):
    document = upload(client_user)
    officer = as_staff("compliance")
    for _ in range(2):
        response = officer.get(f"/api/v1/backoffice/kyc/documents/{document.pk}/file")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PNG
    accesses = DocumentAccess.objects.filter(accessed_by=officer.user)
    assert accesses.count() == 2
    assert {a.channel for a in accesses} == {DocumentAccessChannel.BACKOFFICE_API}
    log = officer.get(f"/api/v1/backoffice/kyc/{document.application_id}/document-access").json()
    assert log["count"] == 2
    assert log["results"][0]["accessed_by"] == officer.user.email
    assert log["results"][0]["kind"] == "government_id"
    # Staff use the back-office path; the client path answers only the owner.
    assert officer.get(f"/api/v1/kyc/documents/{document.pk}/file").status_code == 404


@pytest.mark.parametrize("role", ["support", "broker_operations", "risk"])
def test_other_roles_never_see_documents(client_user, as_staff, role):
    document = upload(client_user)
    staff = as_staff(role)
    response = staff.get(f"/api/v1/backoffice/kyc/documents/{document.pk}/file")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    log = staff.get(f"/api/v1/backoffice/kyc/{document.application_id}/document-access")
    assert log.status_code == 403
    assert not DocumentAccess.objects.exists()


def test_admin_preview_is_permission_checked_and_recorded(
    client_user, staff_factory, admin_browser
):
    document = upload(client_user)
    officer = staff_factory("compliance")
    browser = admin_browser(officer)
    response = browser.get(f"/admin/kyc/kycdocument/{document.pk}/file/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # previewed inline in the console
    access = DocumentAccess.objects.get()
    assert (access.accessed_by, access.channel) == (officer, DocumentAccessChannel.ADMIN)
    assert access.ip_address == "198.51.100.20"

    support = admin_browser(staff_factory("support"))
    assert support.get(f"/admin/kyc/kycdocument/{document.pk}/file/").status_code == 403
    assert DocumentAccess.objects.count() == 1


def test_compliance_records_an_id_expiry_in_the_console(client_user, staff_factory, admin_browser):
    document = upload(client_user)
    officer = staff_factory("compliance")
    browser = admin_browser(officer)
    response = browser.post(
        f"/admin/kyc/kycdocument/{document.pk}/change/",
        {"expires_on": "2030-06-30", "change_reason": "Read from the passport"},
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.expires_on == dt.date(2030, 6, 30)
    last = document.history.first()
    assert (last.history_user, last.history_change_reason) == (officer, "Read from the passport")
