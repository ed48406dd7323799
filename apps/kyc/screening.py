"""Name screening: the OFAC SDN file layout, name normalisation and fuzzy matching.

Pure functions (no database): the services load the list into tables and call these.

Matching compares normalised names, so "AL-ZAWAHIRI, Ayman" (the list's "LAST, First" order),
"Ayman al Zawahiri" and "Aymán Al-Zawahirí" are the same name. The score (0-100) is the best
of rapidfuzz's token-sort ratio (token order ignored) and, when both names have two tokens or
more, its token-set ratio (a middle name present on one side only). A name scoring at least
the threshold is a hit unless the list gives dates of birth and none covers the client's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

SDN_COLUMNS = (
    "ent_num",
    "SDN_Name",
    "SDN_Type",
    "Program",
    "Title",
    "Call_Sign",
    "Vess_type",
    "Tonnage",
    "GRT",
    "Vess_flag",
    "Vess_owner",
    "Remarks",
)
NULL = "-0-"
INDIVIDUAL = "individual"

# Letters NFKD does not decompose into a base letter and a mark.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "\u0131": "i",  # dotless i
        "þ": "th",
        "ð": "d",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam"}


def fold(text: str) -> str:
    """Lower-case ASCII: accents stripped, special letters spelled out."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def normalize_name(name: str) -> str:
    """A comparable form of a person's name: "LAST, First Middle" -> "first middle last"."""
    if name.count(",") == 1:
        last, first = name.split(",")
        name = f"{first} {last}"
    tokens = _NON_ALNUM.sub(" ", fold(name)).split()
    return " ".join(t for t in tokens if t not in _HONORIFICS)


# --- Dates of birth -------------------------------------------------------------------------

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DOB = re.compile(r"\bDOB\s+([^;]+)", re.IGNORECASE)
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$")
_MONTH_YEAR = re.compile(r"^([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")


def _span(text: str) -> tuple[dt.date, dt.date] | None:
    """The dates a single OFAC date expression covers ("12 Mar 1968", "Mar 1968", "1968")."""
    text = text.strip().rstrip(".")
    if m := _DAY_MONTH_YEAR.match(text):
        month = _MONTHS.get(m.group(2).lower())
        if month is None:
            return None
        try:
            day = dt.date(int(m.group(3)), month, int(m.group(1)))
        except ValueError:
            return None
        return day, day
    if m := _MONTH_YEAR.match(text):
        month = _MONTHS.get(m.group(1).lower())
        if month is None:
            return None
        year = int(m.group(2))
        start = dt.date(year, month, 1)
        end = (dt.date(year + (month == 12), month % 12 + 1, 1)) - dt.timedelta(days=1)
        return start, end
    if m := _YEAR.match(text):
        year = int(m.group(1))
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return None


def parse_birth_dates(remarks: str) -> list[tuple[dt.date, dt.date]]:
    """Every date-of-birth span in an SDN Remarks field.

    Understands "DOB 12 Mar 1968", "alt. DOB 1969", "DOB circa 1965" (one year either side),
    "DOB 1962 to 1964" and "DOB 01 Jan 1962 to 31 Dec 1964".
    """
    spans = []
    for match in _DOB.finditer(remarks):
        text = match.group(1).strip()
        circa = text.lower().startswith("circa ")
        if circa:
            text = text[6:]
        if " to " in text:
            first, _, last = text.partition(" to ")
            a, b = _span(first), _span(last)
            if a and b:
                spans.append((a[0], b[1]))
            continue
        span = _span(text)
        if span is None:
            continue
        if circa:
            span = (span[0].replace(year=span[0].year - 1), span[1].replace(year=span[1].year + 1))
        spans.append(span)
    return spans


_ALIAS = re.compile(r"\b[afn]\.k\.a\.?\s*'([^']+)'", re.IGNORECASE)


def parse_aliases(remarks: str) -> list[str]:
    """The a.k.a. / f.k.a. / n.k.a. names quoted in an SDN Remarks field."""
    return [alias.strip() for alias in _ALIAS.findall(remarks) if alias.strip()]


# --- The SDN file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SdnRecord:
    ent_num: int
    name: str
    sdn_type: str
    programs: str
    title: str
    remarks: str
    birth_dates: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)

    @property
    def is_individual(self) -> bool:
        return self.sdn_type.lower() == INDIVIDUAL

    @property
    def birth_date_text(self) -> str:
        return "; ".join(m.group(0) for m in _DOB.finditer(self.remarks))


class SdnFormatError(ValueError):
    pass


def _clean(value: str) -> str:
    value = value.strip()
    return "" if value == NULL else value


def decode(raw: bytes) -> str:
    """OFAC files are UTF-8 today and were Windows-1252 before; accept both."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def parse_sdn(text: str) -> Iterator[SdnRecord]:
    """Records of an SDN CSV (no header, or a header naming the columns).

    Raises SdnFormatError naming the line of a malformed row. The DOS end-of-file marker the
    OFAC file ends with is ignored.
    """
    reader = csv.reader(io.StringIO(text.replace("\x1a", "")))
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if row[0].strip().lower() == "ent_num":
            continue
        if len(row) != len(SDN_COLUMNS):
            raise SdnFormatError(
                f"Line {line}: {len(row)} columns, expected {len(SDN_COLUMNS)} "
                f"({', '.join(SDN_COLUMNS)})."
            )
        try:
            ent_num = int(row[0].strip())
        except ValueError as exc:
            raise SdnFormatError(f"Line {line}: ent_num {row[0]!r} is not a number.") from exc
        name = _clean(row[1])
        if not name:
            raise SdnFormatError(f"Line {line}: SDN_Name is empty.")
        remarks = _clean(row[11])
        yield SdnRecord(
            ent_num=ent_num,
            name=name,
            sdn_type=_clean(row[2]),
            programs=_clean(row[3]).replace("] [", ", ").strip("[]"),
            title=_clean(row[4]),
            remarks=remarks,
            birth_dates=parse_birth_dates(remarks),
            aliases=parse_aliases(remarks),
        )


# --- Matching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One person on a list, with every name they go by (normalised)."""

    key: str  # ent_num for the SDN list, an id for the PEP list
    names: tuple[str, ...]  # display forms, primary first
    birth_dates: tuple[tuple[dt.date, dt.date], ...] = ()


@dataclass(frozen=True)
class Match:
    candidate: Candidate
    matched_name: str
    score: float
    dob_match: bool | None  # None: the list gives no date of birth


def dob_matches(born: dt.date | None, spans: Sequence[tuple[dt.date, dt.date]]) -> bool | None:
    if not spans or born is None:
        return None
    return any(start <= born <= end for start, end in spans)


PREFILTER_MARGIN = 25


def aligned_ratio(query: Sequence[str], candidate: Sequence[str]) -> float:
    """Average similarity of each query token to its own best candidate token (each used
    once): "dmitry volkov" against "dmitri sergeyevich volkov" scores 91.7.

    Only a query no longer than the candidate is aligned (the client may omit a middle name,
    not add tokens the list lacks)."""
    if len(query) > len(candidate):
        return 0.0
    free = list(candidate)
    total = 0.0
    for token in sorted(query, key=len, reverse=True):
        score, index = max((fuzz.ratio(token, c), i) for i, c in enumerate(free))
        total += score
        free.pop(index)
    return total / len(query)


class Matcher:
    """Fuzzy matching of one name against a list, built once per list."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.candidates: list[Candidate] = []
        self._names: list[str] = []
        self._owner: list[int] = []
        self._display: list[str] = []
        for candidate in candidates:
            index = len(self.candidates)
            self.candidates.append(candidate)
            for name in candidate.names:
                normalised = normalize_name(name)
                if normalised:
                    self._names.append(normalised)
                    self._owner.append(index)
                    self._display.append(name)

    def __len__(self) -> int:
        return len(self.candidates)

    def match(self, name: str, born: dt.date | None, *, threshold: float) -> list[Match]:
        """Candidates whose best name scores at least ``threshold``, best first.

        A candidate whose listed dates of birth all differ from ``born`` is not a match.
        """
        query = normalize_name(name)
        if not query or not self._names:
            return []
        best: dict[int, tuple[float, int]] = {}
        for _, score, position in process.extract(
            query, self._names, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, limit=None
        ):
            owner = self._owner[position]
            if score > best.get(owner, (-1.0, 0))[0]:
                best[owner] = (score, position)
        query_tokens = query.split()
        if len(query_tokens) >= 2:
            # Names with a middle name or a spelling variant on one side: token-set ratio, and
            # token-by-token alignment for the candidates it finds close enough to look at.
            for _, set_score, position in process.extract(
                query,
                self._names,
                scorer=fuzz.token_set_ratio,
                score_cutoff=max(threshold - PREFILTER_MARGIN, 0),
                limit=None,
            ):
                tokens = self._names[position].split()
                if len(tokens) < 2:
                    continue
                score = max(
                    set_score if set_score >= threshold else 0.0,
                    aligned_ratio(query_tokens, tokens),
                )
                owner = self._owner[position]
                if score >= threshold and score > best.get(owner, (-1.0, 0))[0]:
                    best[owner] = (score, position)
        matches = []
        for owner, (score, position) in best.items():
            candidate = self.candidates[owner]
            dob = dob_matches(born, candidate.birth_dates)
            if dob is False:
                continue
            matches.append(
                Match(
                    candidate=candidate,
                    matched_name=self._display[position],
                    score=round(float(score), 2),
                    dob_match=dob,
                )
            )
        matches.sort(key=lambda m: (-m.score, m.candidate.key))
        return matches
