"""Real NASDAQ order flow, the LOBSTER samples, replayed through the order book.

Each sample with an orderbook file is replayed in full (apps/matching/lobster.py says how):
every execution whose queue is known must hit the order NASDAQ names, at its price, for its
size, and the book must equal every orderbook row wherever its state is known. Every
message is either checked or counted under the reason it could not be; the counts are
printed (``pytest -s``) and recorded as test properties. The files are read where they lie
($LOBSTER_DIR, default /work/shared/data/lobster).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.matching.lobster import EXECUTION, CheckedReplay, Sample, samples

DATA = Path(os.environ.get("LOBSTER_DIR", "/work/shared/data/lobster"))
SAMPLES = samples(DATA)
WITH_ORDERBOOK = [sample for sample in SAMPLES if sample.orderbook is not None]
MESSAGES_ONLY = [sample for sample in SAMPLES if sample.orderbook is None]


def line_count(path: Path) -> int:
    with path.open() as handle:
        return sum(1 for _ in handle)


def report_and_record(report, record_property) -> None:
    print("\n" + "\n".join(report.lines()))
    record_property("checked", dict(report.checked))
    record_property("not_checked", dict(report.unchecked))
    record_property("levels_not_compared", dict(report.levels_not_compared))
    record_property("corrections", dict(report.corrections))


def test_the_samples_are_there():
    assert len(WITH_ORDERBOOK) >= 3, f"LOBSTER samples with orderbook files in {DATA}"
    assert {sample.levels for sample in WITH_ORDERBOOK} >= {1, 10}


@pytest.mark.parametrize("sample", WITH_ORDERBOOK, ids=lambda sample: sample.name)
def test_replay_agrees_with_nasdaq(sample: Sample, record_property):
    report = CheckedReplay(sample).run()
    report_and_record(report, record_property)
    assert report.failures == []
    assert report.messages == line_count(sample.messages)
    assert report.accounted == report.messages, "a message neither checked nor counted"
    assert report.executions_agreed == report.executions_checked
    assert report.levels_agreed == report.levels_compared > 0
    # The knowledge model must leave most of the flow checkable, not explain it away.
    visible = sum(1 for message in sample.read_messages() if message.kind == EXECUTION)
    assert report.executions_checked >= 0.4 * visible
    assert sum(report.checked.values()) >= 0.6 * report.messages


@pytest.mark.parametrize("sample", MESSAGES_ONLY, ids=lambda sample: sample.name)
def test_a_message_file_without_its_orderbook_is_replayed_and_counted(
    sample: Sample, record_property
):
    report = CheckedReplay(sample).run()
    report_and_record(report, record_property)
    assert report.failures == []
    assert report.messages == line_count(sample.messages)
    assert sum(report.checked.values()) == 0
    assert report.accounted == report.messages
