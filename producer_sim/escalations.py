"""The bot's side of the ladder: it reads the `escalations` queue and applies each escalation once — a
warning sent to the user, a timeout (simulated: the user is muted in the channel for its minutes), a ban
suggested to the channel's moderators (never a ban). Each applied escalation is a line of
`escalations.jsonl` in the bot's state (the demo's closing summary reads it); an id already there is
not applied again, so a message delivered twice, or read again after a crash before its deletion,
changes nothing."""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.strikes import Escalation
from runtime.errors import aws_errors
from runtime.logs import structured_logger
from runtime.queues import receive_all

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef

log = structured_logger("producer_sim")
APPLIED_FILE = "escalations.jsonl"


def read_applied(path: Path) -> list[dict[str, object]]:
    """The escalations a bot applied (its `escalations.jsonl`), oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class EscalationInbox:
    """Applies each escalation id once, then deletes its message."""

    def __init__(self, sqs: "SQSClient", queue: str, state_dir: Path) -> None:
        self._sqs = sqs
        self._queue = queue
        self._url: str | None = None
        self._path = state_dir / APPLIED_FILE
        self._applied = {str(line["escalation_id"]) for line in read_applied(self._path)}
        self.counts: Counter[str] = Counter()

    def poll(self) -> int:
        """Apply what the queue holds; how many were applied (not counting repeats)."""
        if self._url is None:
            with aws_errors("GetQueueUrl escalations"):
                self._url = self._sqs.get_queue_url(QueueName=self._queue)["QueueUrl"]
        applied = 0
        with aws_errors("ReceiveMessage escalations"):
            batches = list(receive_all(self._sqs, self._url, hide_s=60))
        for batch in batches:
            done: list[DeleteMessageBatchRequestEntryTypeDef] = []
            for message in batch:
                try:
                    escalation = Escalation.model_validate_json(message["Body"])
                except ValidationError:
                    # left on the queue: its redrive policy moves it to the dead-letter queue
                    self.counts["escalations_unreadable"] += 1
                    log.warning(
                        {"event": "bot_escalation_unreadable", "sqs_message_id": message["MessageId"]}
                    )
                    continue
                if escalation.escalation_id in self._applied:
                    self.counts["escalations_repeated"] += 1
                else:
                    self._apply(escalation)
                    applied += 1
                done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
            if done:
                with aws_errors("DeleteMessageBatch escalations"):
                    self._sqs.delete_message_batch(QueueUrl=self._url, Entries=done)
        return applied

    def _apply(self, escalation: Escalation) -> None:
        line = {**escalation.model_dump(mode="json"), "applied_at": datetime.now(UTC).isoformat()}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
        self._applied.add(escalation.escalation_id)
        self.counts[f"escalations_{escalation.rung}"] += 1
        log.info(
            {
                "event": "bot_escalation_applied",
                "channel": escalation.channel_id,
                "rung": escalation.rung,
                "timeout_minutes": escalation.timeout_minutes,
            }
        )
