"""Overturns beside drift: the drift check reads the appeals' outcomes from the statements prefix (on
moto's S3, skipping the statements of reasons beside them and what does not parse) and names the model
version whose removals appeals overturned above the policy's rate."""

import uuid
from datetime import UTC, datetime

import pytest

from contracts.statement import AppealOutcome, AppealResult
from contracts.storage import appeal_outcome_key, json_lines
from contracts.verdict import Action
from monitoring.alerts import AlertKind, Notifier
from monitoring.archive import ArchiveWindow, read_outcomes
from monitoring.flow import check_overturns
from monitoring.settings import MonitoringSettings
from runtime import aws
from tests.builders import flagged

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 5, tzinfo=UTC)


class Recorder(Notifier):
    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[tuple[AlertKind, str, dict[str, object]]] = []

    def send(self, kind: AlertKind, title: str, **fields: object) -> bool:
        self.sent.append((kind, title, fields))
        return True


def _outcome(line_id: uuid.UUID, by: str, result: AppealResult) -> AppealOutcome:
    return AppealOutcome(
        message_id=line_id,
        channel_id="c1",
        user_id="u",
        result=result,
        category="toxicity",
        appealed_at=AT,
        decided_at=AT,
        decided_by="carol",
        original_by=by,
    )


def test_the_drift_check_names_a_version_whose_removals_appeals_overturn_too_often(
    moto_endpoint: str,
) -> None:
    s3 = aws.client("s3", moto_endpoint)
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    removed = [flagged(f"insult {i}", Action.REMOVE, channel="c1") for i in range(20)]
    version = removed[0].verdict.model_version
    outcomes = [
        _outcome(
            m.message.message_id,
            f"model:{version}",
            AppealResult.RESTORED if i < 5 else AppealResult.CONFIRMED,
        )
        for i, m in enumerate(removed[:8])
    ] + [_outcome(uuid.uuid4(), "alice", AppealResult.RESTORED)]  # a moderator's removal: not the model's
    for o in outcomes:
        key = appeal_outcome_key("statements/", o.decided_at, str(o.message_id))
        s3.put_object(Bucket=bucket, Key=key, Body=json_lines([o]))
    s3.put_object(
        Bucket=bucket, Key="statements/dt=2026-12-05/hour=00/shard-1.jsonl", Body=b'{"statement_id": 1}\n'
    )
    broken = appeal_outcome_key("statements/", AT, "broken")
    s3.put_object(Bucket=bucket, Key=broken, Body=b"not json\n")
    read = read_outcomes(s3, bucket, "statements/")
    assert sorted(o.message_id for o in read) == sorted(o.message_id for o in outcomes)
    settings = MonitoringSettings(max_overturn_rate=0.2, min_removals_for_overturns=20)
    recorder = Recorder()
    (row,) = check_overturns(settings, recorder, read, ArchiveWindow(messages=removed))
    assert (row.model_version, row.removals, row.appeals_decided, row.overturned) == (version, 20, 8, 5)
    ((kind, title, fields),) = recorder.sent
    assert kind is AlertKind.OVERTURNS_HIGH
    assert title == f"model v{version}: appeals overturned 25% of its toxicity removals"
    assert fields["model_version"] == version
    # at the rate itself, nobody is named
    quiet = Recorder()
    check_overturns(
        settings.model_copy(update={"max_overturn_rate": 0.25}), quiet, read, ArchiveWindow(messages=removed)
    )
    assert quiet.sent == []
