"""Erasure of one user's data: the pure rewrites of archive and feedback objects, dead-letter matching."""

import gzip
import json
from uuid import uuid4

from contracts.storage import parse_object
from monitoring.erasure import (
    ErasureReport,
    LetterMatch,
    dead_letter_match,
    erase_archive_object,
    erase_feedback_object,
)
from tests.builders import NOW, archive_body, archived, dead_letter


def test_archive_object_loses_exactly_the_users_lines_and_keeps_the_rest_byte_for_byte() -> None:
    # GIVEN an archive object with two of the user's messages among others'
    mine = [archived("u-42", "my first", 1), archived("u-42", "my second", 3)]
    others = [archived("u-7", "someone else", 2), archived("u-420", "a longer id", 4)]
    body = archive_body([mine[0], others[0], mine[1], others[1]])
    # WHEN the user is erased from it
    result = erase_archive_object(body, "u-42")
    # THEN the others' lines are kept unchanged and in order, and the removed message ids are returned
    assert result is not None
    assert result.removed == 2
    assert result.kept == 2
    assert result.body is not None
    assert gzip.decompress(result.body).decode().splitlines() == [m.model_dump_json() for m in others]
    assert result.message_ids == {str(m.message.message_id) for m in mine}
    # AND the archive reader still reads the rewritten object
    lines, skipped = parse_object(result.body)
    assert [m.message.user_id for m in lines] == ["u-7", "u-420"]
    assert not skipped


def test_an_object_of_the_user_alone_becomes_empty_and_one_without_the_user_is_untouched() -> None:
    only_mine = erase_archive_object(archive_body([archived("u-42"), archived("u-42", seq=2)]), "u-42")
    assert only_mine is not None
    assert only_mine.body is None
    assert only_mine.removed == 2
    untouched = erase_archive_object(archive_body([archived("u-7")]), "u-42")
    assert untouched is not None
    assert untouched.removed == 0


def test_lines_that_are_not_json_are_kept_and_counted_and_a_corrupt_object_is_unreadable() -> None:
    body = archive_body([archived("u-42"), archived("u-7")], extra_lines=("{truncated",))
    result = erase_archive_object(body, "u-42")
    assert result is not None
    assert result.unparsed_lines == 1
    assert result.removed == 1
    assert result.body is not None
    assert gzip.decompress(result.body).decode().splitlines()[-1] == "{truncated"
    assert erase_archive_object(b"not gzip at all", "u-42") is None


def test_feedback_on_the_users_messages_is_removed_whatever_the_uuid_spelling() -> None:
    mine, other = uuid4(), uuid4()
    decision = {"label": "remove", "decided_by": "mod-1", "decided_at": NOW.isoformat()}
    lines = [
        json.dumps({"message_id": str(mine).upper(), **decision}),
        json.dumps({"message_id": str(other), **decision}),
    ]
    body = ("\n".join(lines) + "\n").encode()
    result = erase_feedback_object(body, frozenset({str(mine)}))
    assert result is not None
    assert result.removed == 1
    assert result.body == (lines[1] + "\n").encode()
    emptied = erase_feedback_object(body, frozenset({str(mine), str(other)}))
    assert emptied is not None
    assert emptied.body is None
    assert erase_feedback_object(b"\xff\xfe", frozenset()) is None


def test_dead_letters_are_attributed_by_the_user_id_in_their_payload() -> None:
    message = {"message_id": str(uuid4()), "channel_id": "c1", "user_id": "u-42", "text": "x", "extra": 1}
    assert dead_letter_match(dead_letter(json.dumps(message).encode()), "u-42") is LetterMatch.USER
    assert dead_letter_match(dead_letter(json.dumps(message).encode()), "u-4") is LetterMatch.OTHER
    # a payload cut short (oversize text) still names its user before the text
    long = json.dumps({"user_id": "u-42", "text": "y" * 5000}).encode()
    assert dead_letter_match(dead_letter(long, truncated_to=1001), "u-42") is LetterMatch.USER
    # an escaped id is compared unescaped
    escaped = b'{"user_id": "u-\\"q\\"", "text": ' + b"z" * 50
    assert dead_letter_match(dead_letter(escaped), 'u-"q"') is LetterMatch.USER
    # not JSON, no user id: nobody's, and a body that is not a dead letter at all
    assert dead_letter_match(dead_letter(b"\x00garbage"), "u-42") is LetterMatch.UNATTRIBUTABLE
    assert dead_letter_match("not a dead letter", "u-42") is LetterMatch.UNATTRIBUTABLE


def test_the_report_is_complete_only_when_everything_was_read() -> None:
    report = ErasureReport(user_id="u-42", dry_run=True)
    assert report.complete
    assert json.loads(report.model_dump_json())["complete"] is True
    report.archive.unparsed_lines = 1
    assert not report.complete
