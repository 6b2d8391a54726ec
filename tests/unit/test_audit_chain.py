"""The audit trail's chains: intact as written, and any edit, deletion or reordering of a record found."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.audit import (
    AuditEvent,
    AuditKind,
    AuditRecord,
    chain,
    genesis,
    segment_key,
    verify,
    verify_after,
)
from runtime.audit import days_to_read

DAY = date(2026, 12, 5)
AT = datetime(2026, 12, 5, 12, tzinfo=UTC)
GOLDEN = "50bcab4716278e3f77fb575c5f79aafa034edcad193d283a51d745a4fa4ac88e"  # pragma: allowlist secret


def _events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            kind=AuditKind.HIDE,
            actor="bot",
            at=AT + timedelta(seconds=i),
            message_id=uuid4(),
            reason="toxicity",
        )
        for i in range(n)
    ]


def test_a_chain_as_written_is_intact_and_goes_on_from_its_head() -> None:
    first = chain(_events(3), "bot", DAY, None)
    assert first[0].prev == genesis("bot", DAY)
    assert [r.seq for r in first] == [0, 1, 2]
    more = chain(_events(2), "bot", DAY, (first[-1].seq, first[-1].hash))
    assert [r.seq for r in more] == [3, 4]
    assert verify(first + more) == []
    assert segment_key("audit/", "bot", DAY, 3) == "audit/dt=2026-12-05/bot/000000000003.jsonl"


def test_an_edited_record_is_found_whether_or_not_its_hash_was_recomputed() -> None:
    records = chain(_events(4), "bot", DAY, None)
    edited = records[1].model_copy(update={"reason": "spam"})
    assert any("edited" in p for p in verify([records[0], edited, *records[2:]]))
    # an editor who recomputes the record's hash breaks the next record's link instead
    rehashed = chain(
        [AuditEvent(**edited.model_dump(include=set(AuditEvent.model_fields)))],
        "bot",
        DAY,
        (0, records[0].hash),
    )
    assert rehashed[0].seq == 1
    problems = verify([records[0], rehashed[0], *records[2:]])
    assert any("seq 2: does not follow" in p for p in problems)


def test_a_deleted_or_reordered_record_is_found() -> None:
    records = chain(_events(4), "bot", DAY, None)
    assert any("expected seq 1" in p for p in verify([records[0], *records[2:]]))
    assert verify([records[0], records[2], records[1], records[3]]) != []
    assert any("expected seq 0" in p for p in verify(records[1:]))  # the day's first record gone


@given(st.integers(min_value=0, max_value=5), st.sampled_from(["actor", "reason", "at", "channel_id"]))
def test_any_change_to_any_field_of_any_record_is_found(index: int, field: str) -> None:
    records = chain(_events(6), "bot", DAY, None)
    value = {"actor": "alice", "reason": "x", "at": AT - timedelta(days=1), "channel_id": "c9"}[field]
    changed = [r.model_copy(update={field: value}) if i == index else r for i, r in enumerate(records)]
    assert verify(changed) != []


def test_a_record_of_another_chain_slipped_in_is_found() -> None:
    mine, theirs = chain(_events(2), "bot", DAY, None), chain(_events(1), "review", DAY, None)
    assert any("another chain" in p for p in verify([*mine, theirs[0]]))


def test_records_round_trip_through_json() -> None:
    (record,) = chain(_events(1), "bot", DAY, None)
    assert verify([AuditRecord.model_validate_json(record.model_dump_json())]) == []


def test_an_event_carries_no_free_text_beyond_its_reason_limit() -> None:
    with pytest.raises(ValueError, match="at most 500"):
        AuditEvent(kind=AuditKind.DECISION, actor="alice", at=AT, reason="x" * 501)


def test_the_hash_of_a_record_is_fixed_by_its_content_alone() -> None:
    """The chain's hash is a format: a trail written today must verify with tomorrow's code."""
    event = AuditEvent(
        kind=AuditKind.DECISION,
        actor="alice",
        at=datetime(2026, 12, 5, 12, tzinfo=UTC),
        message_id=UUID("00000000-0000-0000-0000-000000000001"),
        channel_id="c1",
        model_version="3",
        policy_version="p",
        reason="remove toxicity — ü",
        refs={"on": "queue"},
    )
    (record,) = chain([event], "review", DAY, None)
    assert record.prev == "genesis:review:2026-12-05"
    assert record.hash == GOLDEN


def test_a_chain_checked_in_parts_reads_as_one() -> None:
    records = chain(_events(5), "bot", DAY, None)
    problems, head = verify_after(records[:2], (-1, genesis("bot", DAY)))
    assert (problems, head) == ([], (1, records[1].hash))
    assert verify_after(records[2:], head) == ([], (4, records[4].hash))
    # a part that does not follow the head checked: the record before it is missing
    assert verify_after(records[3:], head)[0] == [
        "bot 2026-12-05 seq 3: expected seq 2 (a record deleted or moved)",
        "bot 2026-12-05 seq 3: does not follow the record before it (deleted, reordered or edited)",
    ]


def test_a_page_reads_every_day_of_its_messages_dates_up_to_a_bound_then_those_dates_and_the_last_days() -> (
    None
):
    d = date(2026, 3, 1)
    assert days_to_read([d], 3) == ([d], 0)
    assert days_to_read([d + timedelta(days=2), d], 3) == (
        [d, d + timedelta(days=1), d + timedelta(days=2)],
        0,
    )
    later = d + timedelta(days=9)  # ten days: the first date, and the last three
    assert days_to_read([later, d, d], 3) == ([d, *(later - timedelta(days=n) for n in (2, 1, 0))], 6)
