"""Writes of the kyc app: one function per business action, each in a transaction.

Client actions: :func:`kyc_application_update`, :func:`kyc_document_upload`,
:func:`kyc_submit`, :func:`accreditation_request`. Screening: :func:`kyc_screening_run` (the
task after each submission) and :func:`sanctions_list_load`. Compliance decisions, each with
the reviewer and a reason: :func:`kyc_review_start`, :func:`kyc_approve`, :func:`kyc_reject`,
:func:`kyc_request_information`, :func:`kyc_review_open`, :func:`accreditation_verify`,
:func:`accreditation_reject`, :func:`accreditation_revoke`. Periodic:
:func:`kyc_reviews_mark_due`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from apps.accounts.services import trading_accounts_activate_pending
from apps.core import context
from apps.core.audit import stamp
from apps.core.errors import (
    ApplicationError,
    ErrorCode,
    invalid,
    invalid_state,
    not_found,
    permission_denied,
)
from apps.core.services import outbox_enqueue
from apps.kyc import crypto, screening, validation
from apps.kyc.choices import (
    EDITABLE_STATUSES,
    AccreditationBasis,
    AccreditationStatus,
    DocumentAccessChannel,
    DocumentKind,
    EmploymentStatus,
    HitSource,
    IncomeRange,
    InvestmentExperience,
    InvestmentObjective,
    KycStatus,
    RiskRating,
    RiskTolerance,
    ScreeningOutcome,
    SourceOfFunds,
    TaxIdType,
    Tier,
    TimeHorizon,
    WealthRange,
)
from apps.kyc.models import (
    AccreditedInvestorStatus,
    DocumentAccess,
    KycApplication,
    KycDocument,
    SanctionsEntry,
    SanctionsList,
    ScreeningHit,
    ScreeningResult,
)
from apps.kyc.selectors import kyc_application_missing

logger = logging.getLogger("bourse.kyc")

SCREENING_TASK = "apps.kyc.tasks.kyc_screen"


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise invalid("A reason is required.", reason="This field is required.")
    return reason.strip()


# --- The client's application ---------------------------------------------------------------

CHOICE_FIELDS: dict[str, type] = {
    "employment_status": EmploymentStatus,
    "annual_income": IncomeRange,
    "net_worth": WealthRange,
    "liquid_net_worth": WealthRange,
    "source_of_funds": SourceOfFunds,
    "investment_experience": InvestmentExperience,
    "investment_objective": InvestmentObjective,
    "time_horizon": TimeHorizon,
    "risk_tolerance": RiskTolerance,
}
TEXT_FIELDS = {
    "address_line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 20,
    "employer": 200,
    "occupation": 200,
    "control_person_company": 200,
    "source_of_funds_detail": 4000,
}
BOOLEAN_FIELDS = ("finra_affiliated", "control_person")
APPLICATION_FIELDS = frozenset(
    {
        "legal_name",
        "date_of_birth",
        "citizenship",
        "country",
        "address_line1",
        "tax_id",
        "tax_id_type",
        "requested_tier",
        *CHOICE_FIELDS,
        *TEXT_FIELDS,
        *BOOLEAN_FIELDS,
    }
)


def kyc_application_start(*, user: Any) -> KycApplication:
    """The user's application, created as a draft the first time."""
    application = KycApplication.objects.filter(user=user).first()
    if application is not None:
        return application
    with transaction.atomic():
        application, created = KycApplication.objects.get_or_create(user=user)
        if created:
            stamp(application, actor=user, reason="Application started")
    return application


def _clean_fields(
    application: KycApplication, fields: dict[str, Any], today: dt.date
) -> dict[str, Any]:
    """Validate the format of each given field; every problem is reported at once."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}

    def check(name: str, rule: Callable[[], Any]) -> None:
        try:
            cleaned[name] = rule()
        except ValueError as exc:
            errors[name] = str(exc)

    for name, value in fields.items():
        if value is None or value == "":
            cleaned[name] = None if name == "date_of_birth" else ""
            continue
        if name == "legal_name":
            check(name, lambda v=value: validation.legal_name(str(v)))
        elif name == "date_of_birth":
            check(
                name,
                lambda v=value: validation.date_of_birth(
                    validation.iso_date(v), today=today, minimum_age=settings.KYC_MINIMUM_AGE
                ),
            )
        elif name in ("citizenship", "country"):
            check(name, lambda v=value: validation.country(str(v)))
        elif name == "address_line1":
            check(name, lambda v=value: validation.address_line(str(v)))
        elif name == "requested_tier":
            if value not in Tier.values:
                errors[name] = "Choose tier 1, 2 or 3."
            else:
                cleaned[name] = int(value)
        elif name in CHOICE_FIELDS:
            if value not in CHOICE_FIELDS[name].values:
                errors[name] = f"Choose one of: {', '.join(CHOICE_FIELDS[name].values)}."
            else:
                cleaned[name] = value
        elif name in TEXT_FIELDS:
            text = " ".join(str(value).split()) if name != "source_of_funds_detail" else str(value)
            if len(text) > TEXT_FIELDS[name]:
                errors[name] = f"At most {TEXT_FIELDS[name]} characters."
            else:
                cleaned[name] = text.strip()
        elif name in BOOLEAN_FIELDS:
            cleaned[name] = bool(value)
        elif name == "tax_id_type":
            if value not in TaxIdType.values:
                errors[name] = f"Choose one of: {', '.join(TaxIdType.values)}."
            else:
                cleaned[name] = value
        elif name == "tax_id":
            cleaned[name] = str(value)

    # Rules between fields, against the values the application will hold.
    country = cleaned.get("country", application.country)
    if country == "US":
        if cleaned.get("region"):
            check("region", lambda: validation.us_state(cleaned["region"]))
        if cleaned.get("postal_code"):
            check("postal_code", lambda: validation.us_postal_code(cleaned["postal_code"]))
    if "tax_id" in cleaned:
        raw = cleaned.pop("tax_id")
        if raw:
            kind = cleaned.get("tax_id_type") or validation.guess_tax_id_type(raw)
            try:
                canonical = validation.tax_id(raw, kind)
            except ValueError as exc:
                errors["tax_id"] = str(exc)
            else:
                cleaned["tax_id_type"] = kind
                cleaned["tax_id_encrypted"] = crypto.encrypt(canonical)
                cleaned["tax_id_last4"] = canonical[-4:]
        else:
            cleaned.update(tax_id_type="", tax_id_encrypted="", tax_id_last4="")
    elif cleaned.get("tax_id_type", application.tax_id_type) != application.tax_id_type:
        errors["tax_id"] = "Enter the tax id again when you change its type."
    if errors:
        raise invalid("Some fields are invalid.", **errors)
    return cleaned


def kyc_application_update(*, user: Any, actor: Any, **fields: Any) -> KycApplication:
    """Save the given fields of the user's application (a draft, or one compliance sent back).

    Fields left out keep their value; an empty value clears one. Formats are checked now
    (raising ``invalid`` with every field's problem); completeness only at submission. The tax
    id is stored encrypted and never returned in clear.
    """
    unknown = set(fields) - APPLICATION_FIELDS
    if unknown:
        raise invalid(
            "These fields can't be changed here.", **dict.fromkeys(sorted(unknown), "Unknown.")
        )
    kyc_application_start(user=user)
    with transaction.atomic():
        application = KycApplication.objects.select_for_update().get(user=user)
        if application.status not in EDITABLE_STATUSES:
            raise invalid_state(
                f"The application is {application.get_status_display().lower()} and can't be "
                "changed now.",
                status=application.status,
            )
        cleaned = _clean_fields(application, fields, timezone.localdate())
        for name, value in cleaned.items():
            setattr(application, name, value)
        if cleaned:
            stamp(application, actor=actor, reason="Application updated")
            application.save()
    return application


def kyc_document_upload(
    *, user: Any, actor: Any, kind: str, file: Any, expires_on: dt.date | None = None
) -> KycDocument:
    """Store a client document after checking it from its content.

    Refuses (``invalid``) a kind that isn't known, an empty or oversize file
    (KYC_DOCUMENT_MAX_BYTES), anything but PDF, JPEG or PNG by its bytes, a name whose
    extension disagrees with the content (a PNG called .pdf), a PDF with active content, and an
    expiry date in the past. Identity documents are accepted while the application is editable;
    accreditation evidence at any time before a rejection.
    """
    if kind not in DocumentKind.values:
        raise invalid("Unknown document kind.", kind=f"Choose one of: {', '.join(DocumentKind)}.")
    application = kyc_application_start(user=user)
    if kind == DocumentKind.ACCREDITATION_EVIDENCE:
        if application.status == KycStatus.REJECTED:
            raise invalid_state("The application was rejected.", status=application.status)
    elif application.status not in EDITABLE_STATUSES:
        raise invalid_state(
            "Documents can be added while the application is a draft or when compliance asks.",
            status=application.status,
        )
    if expires_on is not None:
        if kind != DocumentKind.GOVERNMENT_ID:
            raise invalid("Only an id has an expiry date.", expires_on="Not for this kind.")
        if expires_on <= timezone.localdate():
            raise invalid("The id has expired.", expires_on="Upload a current, unexpired id.")
    name = os.path.basename(getattr(file, "name", "") or "")
    size = getattr(file, "size", None)
    body = file.read(settings.KYC_DOCUMENT_MAX_BYTES + 1)
    size = len(body) if size is None else size
    try:
        checked = validation.document_content(
            head=body[: validation.SNIFF_BYTES],
            name=name,
            size=max(size, len(body)),
            max_bytes=settings.KYC_DOCUMENT_MAX_BYTES,
        )
        if checked.content_type == "application/pdf":
            validation.pdf_without_active_content(body)
    except ValueError as exc:
        raise invalid(str(exc), file=str(exc)) from exc

    document = KycDocument(
        application=application,
        kind=kind,
        original_name=name[:255],
        content_type=checked.content_type,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        expires_on=expires_on,
        uploaded_by=actor,
    )
    document.file.save(f"{kind}.{checked.extension}", ContentFile(body), save=False)
    try:
        with transaction.atomic():
            stamp(document, actor=actor, reason=f"Uploaded {document.get_kind_display()}")
            document.save()
    except Exception:
        document.file.delete(save=False)
        raise
    return document


def kyc_submit(*, user: Any, actor: Any) -> KycApplication:
    """Send the application for screening and review.

    Raises ``invalid`` naming what is missing for the requested tier, ``invalid_state`` unless
    the application is a draft or was sent back for information. Screening runs as a task after
    commit (at once when tasks run eagerly); reload the application to see its outcome.
    """
    application = KycApplication.objects.filter(user=user).first()
    if application is None:
        raise invalid_state("Fill in the application first.", status="not_started")
    with transaction.atomic():
        locked = (
            KycApplication.objects.select_for_update()
            .prefetch_related("documents")
            .get(pk=application.pk)
        )
        if not can_proceed(locked.submit):
            raise invalid_state(
                f"An application that is {locked.get_status_display().lower()} can't be submitted.",
                status=locked.status,
            )
        missing = kyc_application_missing(locked)
        if missing:
            raise invalid("The application is incomplete.", **missing)
        locked.submit()
        locked.submission_count += 1
        locked.submitted_at = timezone.now()
        locked.information_request = ""
        locked.status_reason = "Submitted by the client"
        stamp(locked, actor=actor, reason="Submitted for review")
        locked.save()
        outbox_enqueue(task_name=SCREENING_TASK, args=[locked.pk, locked.submission_count])
    return locked


# --- Screening ------------------------------------------------------------------------------


def _entry_candidate(entry: SanctionsEntry) -> screening.Candidate:
    return screening.Candidate(
        key=str(entry.ent_num),
        names=(entry.name, *entry.aliases),
        birth_dates=tuple(
            (dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in entry.birth_dates
        ),
    )


_sanctions_matchers: dict[int, tuple[screening.Matcher, dict[str, SanctionsEntry]]] = {}


def _sanctions_matcher(
    sanctions_list: SanctionsList,
) -> tuple[screening.Matcher, dict[str, SanctionsEntry]]:
    """The matcher of a list's individuals, built once per loaded list (lists never change)."""
    cached = _sanctions_matchers.get(sanctions_list.pk)
    if cached is None:
        entries = {
            str(e.ent_num): e
            for e in SanctionsEntry.objects.filter(
                sanctions_list=sanctions_list, sdn_type__iexact=screening.INDIVIDUAL
            )
        }
        matcher = screening.Matcher(_entry_candidate(e) for e in entries.values())
        _sanctions_matchers.clear()
        cached = _sanctions_matchers[sanctions_list.pk] = (matcher, entries)
    return cached


@lru_cache(maxsize=4)
def _pep_list(path: str, mtime: float) -> tuple[screening.Matcher, dict[str, dict[str, str]]]:
    rows: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["id"]] = row
    candidates = []
    for key, row in rows.items():
        born = row.get("date_of_birth") or ""
        spans = ((dt.date.fromisoformat(born),) * 2,) if born else ()
        candidates.append(screening.Candidate(key=key, names=(row["name"],), birth_dates=spans))
    return screening.Matcher(candidates), rows


def pep_matcher() -> tuple[screening.Matcher, dict[str, dict[str, str]]]:
    path = str(settings.KYC_PEP_LIST_FILE)
    return _pep_list(path, Path(path).stat().st_mtime)


@lru_cache(maxsize=4)
def _shipped_high_risk(path: str) -> frozenset[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return frozenset(row["code"].strip().upper() for row in csv.DictReader(handle))


def high_risk_countries() -> frozenset[str]:
    """KYC_HIGH_RISK_COUNTRIES, or the list shipped in apps/kyc/data when that is empty."""
    configured = {c.strip().upper() for c in settings.KYC_HIGH_RISK_COUNTRIES if c.strip()}
    if configured:
        return frozenset(configured)
    return _shipped_high_risk(str(Path(__file__).parent / "data" / "high_risk_countries.csv"))


def _screen(application: KycApplication, submission: int) -> ScreeningResult:
    threshold = settings.KYC_SCREENING_THRESHOLD
    name, born = application.legal_name, application.date_of_birth
    sanctions_list = SanctionsList.objects.order_by("-loaded_at", "-pk").first()
    hits: list[ScreeningHit] = []
    if sanctions_list is not None:
        matcher, entries = _sanctions_matcher(sanctions_list)
        for match in matcher.match(name, born, threshold=threshold):
            entry = entries[match.candidate.key]
            hits.append(
                ScreeningHit(
                    source=HitSource.SANCTIONS,
                    entry=entry,
                    list_key=str(entry.ent_num),
                    list_name=entry.name,
                    matched_name=match.matched_name,
                    entry_type=entry.sdn_type,
                    programs=entry.programs,
                    birth_date_text=entry.birth_date_text,
                    details=entry.remarks,
                    name_score=match.score,
                    dob_match=match.dob_match,
                )
            )
    peps, pep_rows = pep_matcher()
    for match in peps.match(name, born, threshold=threshold):
        row = pep_rows[match.candidate.key]
        hits.append(
            ScreeningHit(
                source=HitSource.PEP,
                list_key=match.candidate.key,
                list_name=row["name"],
                matched_name=match.matched_name,
                entry_type=f"PEP ({row.get('country', '')})",
                birth_date_text=row.get("date_of_birth", ""),
                details=row.get("position", ""),
                name_score=match.score,
                dob_match=match.dob_match,
            )
        )
    risky = high_risk_countries()
    countries = sorted(
        {str(c) for c in (application.citizenship, application.country) if str(c) in risky}
    )
    sanctions_match = any(h.source == HitSource.SANCTIONS for h in hits)
    pep_match = any(h.source == HitSource.PEP for h in hits)

    reasons = []
    if sanctions_list is None:
        outcome = ScreeningOutcome.LIST_UNAVAILABLE
        reasons.append("No sanctions list is loaded; screen by hand before deciding.")
    elif sanctions_match:
        outcome = ScreeningOutcome.POSSIBLE_MATCH
    elif pep_match or countries:
        outcome = ScreeningOutcome.ENHANCED_REVIEW
    else:
        outcome = ScreeningOutcome.CLEAR
    for hit in hits:
        dob = {True: "DOB matches", False: "DOB differs", None: "no DOB listed"}[hit.dob_match]
        label = f"SDN #{hit.list_key}" if hit.source == HitSource.SANCTIONS else hit.list_key
        reasons.append(
            f"Possible {hit.get_source_display().lower()} match: {hit.list_name} ({label}"
            f"{', ' + hit.programs if hit.programs else ''}), name score {hit.name_score}, {dob}."
        )
    if countries:
        reasons.append(f"High-risk country: {', '.join(countries)}.")

    if sanctions_match or pep_match or countries:
        risk = RiskRating.HIGH
    elif (
        application.finra_affiliated
        or application.control_person
        or application.requested_tier == Tier.ENHANCED
    ):
        risk = RiskRating.MEDIUM
    else:
        risk = RiskRating.LOW
    result = ScreeningResult.objects.create(
        application=application,
        submission=submission,
        sanctions_list=sanctions_list,
        screened_name=name,
        screened_date_of_birth=born,
        outcome=outcome,
        sanctions_match=sanctions_match,
        pep_match=pep_match,
        high_risk_countries=countries,
        max_score=max((h.name_score for h in hits), default=0),
        threshold=threshold,
        risk_rating=risk,
        summary=" ".join(reasons) or "No match on the sanctions or PEP lists.",
    )
    for hit in hits:
        hit.result = result
    ScreeningHit.objects.bulk_create(hits)
    return result


def kyc_screening_run(*, application_id: int, submission: int) -> ScreeningResult | None:
    """Screen one submission of an application (the task after ``kyc_submit``). Idempotent.

    Name and date of birth against the sanctions list and the PEP list, countries against the
    high-risk list. A possible match, a PEP, a high-risk country or a missing list send the
    application to under_review with the findings as the reason; a clean, complete tier-1
    application is approved when KYC_AUTO_APPROVE is on; anything else waits, submitted, for
    compliance. Returns the result, or None when the submission is no longer current.
    """
    with transaction.atomic():
        application = (
            KycApplication.objects.select_for_update()
            .prefetch_related("documents")
            .filter(pk=application_id)
            .first()
        )
        if application is None:
            return None
        existing = ScreeningResult.objects.filter(
            application=application, submission=submission
        ).first()
        if existing is not None:
            return existing
        if application.status != KycStatus.SUBMITTED or application.submission_count != submission:
            return None
        result = _screen(application, submission)
        application.latest_screening = result
        application.risk_rating = result.risk_rating
        if result.outcome != ScreeningOutcome.CLEAR:
            application.start_review()
            application.status_reason = result.summary
            stamp(application, reason=f"Screening: {result.summary}")
            application.save()
        elif (
            settings.KYC_AUTO_APPROVE
            and application.requested_tier == Tier.BASIC
            and result.risk_rating != RiskRating.HIGH
            and not kyc_application_missing(application, tier=Tier.BASIC)
        ):
            _approve(
                application,
                actor=None,
                tier=Tier.BASIC,
                reason="Approved automatically: complete tier-1 application, screening clear.",
            )
        else:
            application.status_reason = "Screening clear; waiting for review."
            stamp(application, reason="Screening clear")
            application.save()
    return result


def sanctions_list_load(*, data: bytes, source_name: str, actor: Any = None) -> SanctionsList:
    """Replace the sanctions list with the OFAC SDN CSV in ``data``, all or nothing.

    Raises ``invalid`` for a malformed file (naming the line), an empty one, or one that
    repeats an ent_num. Screening results keep a copy of the entries they matched, so replacing
    the list loses nothing compliance looked at.
    """
    try:
        records = list(screening.parse_sdn(screening.decode(data)))
    except screening.SdnFormatError as exc:
        raise invalid(f"Not an SDN file: {exc}", file=str(exc)) from exc
    if not records:
        raise invalid("The file holds no entries.", file="No entries.")
    seen: set[int] = set()
    for record in records:
        if record.ent_num in seen:
            raise invalid(f"ent_num {record.ent_num} appears twice.", file="Duplicate ent_num.")
        seen.add(record.ent_num)
    with transaction.atomic():
        sanctions_list = SanctionsList.objects.create(
            source_name=source_name[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            loaded_by=actor if getattr(actor, "pk", None) else None,
            entry_count=len(records),
            individual_count=sum(r.is_individual for r in records),
        )
        SanctionsEntry.objects.bulk_create(
            [
                SanctionsEntry(
                    sanctions_list=sanctions_list,
                    ent_num=r.ent_num,
                    name=r.name[:350],
                    sdn_type=r.sdn_type[:32],
                    programs=r.programs[:255],
                    title=r.title[:255],
                    remarks=r.remarks,
                    aliases=r.aliases,
                    birth_dates=[[a.isoformat(), b.isoformat()] for a, b in r.birth_dates],
                    birth_date_text=r.birth_date_text[:255],
                )
                for r in records
            ],
            batch_size=2000,
        )
        SanctionsEntry.objects.exclude(sanctions_list=sanctions_list).delete()
    return sanctions_list


# --- Compliance decisions -------------------------------------------------------------------


ACTION_WORDS = {
    "start_review": "taken for review",
    "approve": "approved",
    "reject": "rejected",
    "request_information": "sent back for information",
    "mark_review_due": "put under review",
}


def _locked(application: KycApplication) -> KycApplication:
    return (
        KycApplication.objects.select_for_update()
        .prefetch_related("documents")
        .get(pk=application.pk)
    )


def _check(
    application: KycApplication,
    action: str,
    actor: Any,
    enforce_permission: bool,
) -> Callable[[], None]:
    method = getattr(application, action)
    if not can_proceed(method):
        raise invalid_state(
            f"An application that is {application.get_status_display().lower()} can't be "
            f"{ACTION_WORDS[action]}.",
            status=application.status,
            action=action,
        )
    if enforce_permission:
        if actor is None or not has_transition_perm(method, actor):
            raise permission_denied("Your role may not make this KYC decision.")
        if actor.pk == application.user_id:
            raise permission_denied("Nobody decides on their own application.")
    return method


def _decided(application: KycApplication, actor: Any, reason: str) -> None:
    application.decided_at = timezone.now()
    application.decided_by = actor if getattr(actor, "pk", None) else None
    application.status_reason = reason
    stamp(application, actor=actor, reason=reason)


def kyc_review_start(
    *, application: KycApplication, actor: Any, reason: str, enforce_permission: bool = True
) -> KycApplication:
    """Compliance takes a submitted application for review (it becomes theirs)."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _locked(application)
        _check(locked, "start_review", actor, enforce_permission)()
        locked.reviewer = actor if getattr(actor, "pk", None) else None
        locked.status_reason = reason
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def _approve(
    locked: KycApplication,
    *,
    actor: Any,
    tier: int,
    reason: str,
    risk_rating: str | None = None,
) -> KycApplication:
    if tier not in Tier.values:
        raise invalid("Unknown tier.", tier="Choose tier 1, 2 or 3.")
    if risk_rating and risk_rating not in RiskRating.values:
        raise invalid("Unknown risk rating.", risk_rating="Choose low, medium or high.")
    missing = kyc_application_missing(locked, tier=tier)
    if missing:
        raise invalid(f"The application does not meet tier {tier}.", **missing)
    locked.approve()
    locked.tier = tier
    locked.risk_rating = risk_rating or locked.risk_rating or RiskRating.LOW
    now = timezone.now()
    locked.approved_at = now
    locked.information_request = ""
    locked.review_due_since = None
    interval = (
        settings.KYC_HIGH_RISK_REVIEW_INTERVAL_DAYS
        if locked.risk_rating == RiskRating.HIGH
        else settings.KYC_REVIEW_INTERVAL_DAYS
    )
    locked.next_review_on = timezone.localdate() + dt.timedelta(days=interval)
    _decided(locked, actor, reason)
    locked.save()
    trading_accounts_activate_pending(
        owner=locked.user, actor=actor, reason=f"KYC approved (tier {tier}): {reason}"
    )
    return locked


def kyc_approve(
    *,
    application: KycApplication,
    actor: Any,
    tier: int,
    reason: str,
    risk_rating: str | None = None,
    enforce_permission: bool = True,
) -> KycApplication:
    """Approve at ``tier``; the client's pending trading accounts become active.

    Raises ``invalid`` when the application lacks what the tier needs (tier 2: current id and
    proof of address; tier 3: a written source of funds), ``invalid_state`` from a state that
    can't be approved, ``permission_denied`` without ``kyc.approve_kycapplication`` or on one's
    own application. The next periodic review is set by the risk rating (yearly when high).
    """
    reason = _reason(reason)
    with transaction.atomic():
        locked = _locked(application)
        _check(locked, "approve", actor, enforce_permission)
        return _approve(locked, actor=actor, tier=int(tier), reason=reason, risk_rating=risk_rating)


def kyc_reject(
    *, application: KycApplication, actor: Any, reason: str, enforce_permission: bool = True
) -> KycApplication:
    """Reject; final. Pending trading accounts stay pending."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _locked(application)
        _check(locked, "reject", actor, enforce_permission)()
        locked.information_request = ""
        _decided(locked, actor, reason)
        locked.save()
    return locked


def kyc_request_information(
    *,
    application: KycApplication,
    actor: Any,
    reason: str,
    question: str = "",
    enforce_permission: bool = True,
) -> KycApplication:
    """Send the application back to the client with ``question`` (the reason when omitted).

    The client sees the question, may edit and upload, and submits again.
    """
    reason = _reason(reason)
    question = (question or "").strip() or reason
    with transaction.atomic():
        locked = _locked(application)
        _check(locked, "request_information", actor, enforce_permission)()
        locked.information_request = question
        _decided(locked, actor, reason)
        locked.save()
    return locked


def kyc_review_open(
    *, application: KycApplication, actor: Any, reason: str, enforce_permission: bool = True
) -> KycApplication:
    """Put an approved client under review (review_due); they keep their tier's limits for
    KYC_REVIEW_GRACE_DAYS while compliance re-approves, asks for information or rejects."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _locked(application)
        _check(locked, "mark_review_due", actor, enforce_permission)()
        locked.review_due_since = timezone.now()
        locked.status_reason = reason
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def kyc_reviews_mark_due(*, today: dt.date | None = None) -> int:
    """Move approved applications to review_due when their periodic review date has come or
    their government id has expired (the daily job). Idempotent; returns how many moved."""
    today = today or timezone.localdate()
    id_expiry = Subquery(
        KycDocument.objects.filter(application=OuterRef("pk"), kind=DocumentKind.GOVERNMENT_ID)
        .order_by("-uploaded_at", "-pk")
        .values("expires_on")[:1]
    )
    due = (
        KycApplication.objects.filter(status=KycStatus.APPROVED)
        .annotate(id_expires_on=id_expiry)
        .filter(Q(next_review_on__lte=today) | Q(id_expires_on__lte=today))
        .values_list("pk", "next_review_on", "id_expires_on")
    )
    moved = 0
    for pk, review_on, id_expires_on in due:
        if id_expires_on is not None and id_expires_on <= today:
            reason = f"Government id expired on {id_expires_on.isoformat()}."
        else:
            reason = f"Periodic review due on {review_on.isoformat()}."
        with transaction.atomic():
            locked = (
                KycApplication.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=KycStatus.APPROVED)
                .first()
            )
            if locked is None:
                continue
            locked.mark_review_due()
            locked.review_due_since = timezone.now()
            locked.status_reason = reason
            stamp(locked, reason=reason)
            locked.save()
            moved += 1
    return moved


# --- Documents ------------------------------------------------------------------------------


def kyc_document_open(*, document: KycDocument, actor: Any, channel: str) -> File:
    """Open a document's file for ``actor`` and record the access (who, when, IP, request).

    The caller has already checked that ``actor`` may read it. Raises ``not_found`` when the
    file is missing from storage.
    """
    if channel not in DocumentAccessChannel.values:
        raise ValueError(f"unknown channel {channel!r}")
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as exc:
        logger.error("KYC document %s is missing from storage (%s)", document.pk, document.file)
        raise not_found("The file of this document is missing; compliance has been told.") from exc
    ctx = context.current()
    DocumentAccess.objects.create(
        document=document,
        accessed_by=actor,
        channel=channel,
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent,
        correlation_id=ctx.correlation_id,
    )
    return handle


def kyc_document_expiry_set(
    *, document: KycDocument, actor: Any, expires_on: dt.date | None, reason: str
) -> KycDocument:
    """Record (or correct) an identity document's expiry date, as read on the document."""
    reason = _reason(reason)
    if not actor.has_perm("kyc.change_kycdocument"):
        raise permission_denied("Your role may not change documents.")
    if document.kind != DocumentKind.GOVERNMENT_ID:
        raise invalid("Only an id has an expiry date.", expires_on="Not for this kind.")
    with transaction.atomic():
        locked = KycDocument.objects.select_for_update().get(pk=document.pk)
        locked.expires_on = expires_on
        stamp(locked, actor=actor, reason=reason)
        locked.save(update_fields=["expires_on"])
    return locked


# --- Accredited investors -------------------------------------------------------------------


def accreditation_request(
    *, user: Any, actor: Any, basis: str, evidence: KycDocument, licence_number: str = ""
) -> AccreditedInvestorStatus:
    """Ask to be verified as an accredited investor, with an evidence document.

    Needs an approved KYC (``kyc_required``), evidence the user uploaded as
    ``accreditation_evidence``, a licence (CRD) number for the professional basis, and no
    other request pending.
    """
    if basis not in AccreditationBasis.values:
        raise invalid("Unknown basis.", basis=f"Choose one of: {', '.join(AccreditationBasis)}.")
    licence_number = (licence_number or "").strip()
    if basis == AccreditationBasis.PROFESSIONAL and not (
        licence_number.isdigit() and 1 <= len(licence_number) <= 10
    ):
        raise invalid("Give the CRD number of your licence.", licence_number="1 to 10 digits.")
    if evidence.application.user_id != user.pk or (
        evidence.kind != DocumentKind.ACCREDITATION_EVIDENCE
    ):
        raise invalid(
            "Upload the evidence as an accreditation_evidence document first.",
            evidence="Not one of your accreditation documents.",
        )
    with transaction.atomic():
        application = KycApplication.objects.select_for_update().get(user=user)
        if application.status not in (KycStatus.APPROVED, KycStatus.REVIEW_DUE):
            raise ApplicationError(
                ErrorCode.KYC_REQUIRED,
                "Accredited status needs an approved KYC application.",
                {"kyc_status": application.status},
            )
        if AccreditedInvestorStatus.objects.filter(
            user=user, status=AccreditationStatus.PENDING
        ).exists():
            raise invalid_state("A request is already waiting for verification.")
        accreditation = AccreditedInvestorStatus(
            user=user, basis=basis, evidence=evidence, licence_number=licence_number
        )
        stamp(accreditation, actor=actor, reason="Accredited status requested")
        accreditation.save()
    return accreditation


def _accreditation_transition(
    *,
    accreditation: AccreditedInvestorStatus,
    action: str,
    actor: Any,
    reason: str,
    enforce_permission: bool,
    changes: dict[str, Any] | None = None,
) -> AccreditedInvestorStatus:
    reason = _reason(reason)
    with transaction.atomic():
        locked = AccreditedInvestorStatus.objects.select_for_update().get(pk=accreditation.pk)
        method = getattr(locked, action)
        if not can_proceed(method):
            raise invalid_state(
                f"An accreditation that is {locked.status} can't be {action}d.",
                status=locked.status,
            )
        if enforce_permission and (
            actor is None or not has_transition_perm(method, actor) or actor.pk == locked.user_id
        ):
            raise permission_denied("Your role may not verify accredited investors.")
        method()
        for field, value in (changes or {}).items():
            setattr(locked, field, value)
        locked.status_reason = reason
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def accreditation_verify(
    *,
    accreditation: AccreditedInvestorStatus,
    actor: Any,
    reason: str,
    expires_on: dt.date | None = None,
    enforce_permission: bool = True,
) -> AccreditedInvestorStatus:
    """Staff verified the evidence: accredited until ``expires_on`` (default: today plus
    KYC_ACCREDITATION_VALIDITY_DAYS)."""
    today = timezone.localdate()
    expires_on = expires_on or today + dt.timedelta(days=settings.KYC_ACCREDITATION_VALIDITY_DAYS)
    if expires_on <= today:
        raise invalid("The expiry date must be in the future.", expires_on="In the past.")
    return _accreditation_transition(
        accreditation=accreditation,
        action="verify",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
        changes={
            "expires_on": expires_on,
            "verified_at": timezone.now(),
            "verified_by": actor if getattr(actor, "pk", None) else None,
        },
    )


def accreditation_reject(
    *,
    accreditation: AccreditedInvestorStatus,
    actor: Any,
    reason: str,
    enforce_permission: bool = True,
) -> AccreditedInvestorStatus:
    return _accreditation_transition(
        accreditation=accreditation,
        action="reject",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
    )


def accreditation_revoke(
    *,
    accreditation: AccreditedInvestorStatus,
    actor: Any,
    reason: str,
    enforce_permission: bool = True,
) -> AccreditedInvestorStatus:
    return _accreditation_transition(
        accreditation=accreditation,
        action="revoke",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
    )


# --- Keys -----------------------------------------------------------------------------------


def field_encryption_rotate(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored tax id (current rows and their history) under the primary key
    of FIELD_ENCRYPTION_KEYS, so older keys can then be removed. Returns the rows rewritten.

    Rewriting a ciphertext changes no data, so it writes no history row of its own.
    """
    rewritten = 0
    for model in (KycApplication, KycApplication.history.model):
        pk_name = model._meta.pk.attname
        last = None
        while True:
            qs = model.objects.exclude(tax_id_encrypted="").order_by(pk_name)
            if last is not None:
                qs = qs.filter(**{f"{pk_name}__gt": last})
            batch = list(qs.values_list(pk_name, "tax_id_encrypted")[:batch_size])
            if not batch:
                break
            with transaction.atomic():
                for pk, token in batch:
                    model.objects.filter(**{pk_name: pk}).update(
                        tax_id_encrypted=crypto.rotate(token)
                    )
            rewritten += len(batch)
            last = batch[-1][0]
    return rewritten
