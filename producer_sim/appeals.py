"""The simulated users who appeal, and the bot's side of an appeal's outcome.

A user whose message was restricted reads their statement of reasons (the bot writes them under the
statements prefix) and appeals at a rate — likelier when the simulator's ground truth says the
restriction was wrong (`appeal_share`, `wrong_appeal_share`) — through the review app's appeal endpoint,
as the platform would file it for them. A moderator other than the one who made the restriction decides
it (`producer_sim.moderators`); the outcome comes back under the statements prefix, and the bot restores
a message whose restriction was overturned (`producer_sim.bot.Bot.apply_outcomes`).

`wants_to_appeal` is pure; `Appellants` and `OutcomeReader` are the thin adapters.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import httpx
from pydantic import ValidationError

from contracts.statement import AppealOutcome, StatementOfReasons
from contracts.storage import GroundTruth, appeal_outcomes_prefix, is_appeal_outcome_key
from producer_sim.bot import decided_on, draw
from runtime.errors import AwsError
from runtime.logs import structured_logger
from runtime.objects import ReadKeys, list_keys, read_objects

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("producer_sim")

# The users' passes (`python -m producer_sim appeal`) are this far apart: each lists every statement under
# the prefix (thousands by the end of a demo), as often as the bot reads the appeals' outcomes and the
# strikes writer the decisions.
PASS_EVERY_S = 5.0
RETRY_FOR_S = 60.0  # how long an appeal answered 404 or 409 is filed again, pass after pass
RETRIES = round(RETRY_FOR_S / PASS_EVERY_S)


def wants_to_appeal(
    statement: StatementOfReasons,
    truth: Mapping[UUID, GroundTruth],
    seed: int,
    share: float,
    wrong_share: float,
) -> bool:
    """Whether the user appeals this restriction: `wrong_share` of those the ground truth says were
    wrong (the message is not what it was restricted for), `share` of the others; fixed per message."""
    known = truth.get(statement.message_id)
    if known is None:
        return False
    _, label = decided_on(statement.category, known)
    return draw(seed, statement.message_id, "appeal") < (wrong_share if label == "allow" else share)


def _new_keys(s3: "S3Client", bucket: str, prefix: str, read: set[str]) -> list[str]:
    return [k for k in list_keys(s3, bucket, prefix, "statements") if k not in read]


class Appellants:
    """Reads the statements written since the last pass and files the appeals due."""

    def __init__(
        self,
        s3: "S3Client",
        bucket: str,
        prefix: str,
        base_url: str,
        token: str,
        seed: int,
        share: float,
        wrong_share: float,
    ) -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix
        self._http = httpx.Client(base_url=base_url, timeout=10.0)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._seed, self._shares = seed, (share, wrong_share)
        self._read: set[str] = set()
        # Appeals answered 404 (the review queue has not listed the message yet: the bot tells the user
        # as it hides, the queue follows the archive) or 409 (a moderator's removal still inside its undo
        # window), filed again on later passes, each up to `RETRIES` times.
        self._retry: dict[UUID, tuple[StatementOfReasons, int]] = {}
        self.counts: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        """Appeals waiting to be filed again."""
        return len(self._retry)

    def poll(self, truth: Mapping[UUID, GroundTruth]) -> int:
        """One pass; returns the appeals filed (answered 201 or 200)."""
        due = [(s, tries) for s, tries in self._retry.values()]
        self._retry.clear()
        new = _new_keys(self._s3, self._bucket, self._prefix, self._read)
        self._read.update(k for k in new if is_appeal_outcome_key(k))
        statements = [k for k in new if not is_appeal_outcome_key(k)]
        for key, body in read_objects(self._s3, self._bucket, statements):
            if isinstance(body, AwsError):
                raise body  # the pass fails here; the next reads this key and those after it again
            for line in body.splitlines():
                try:
                    statement = StatementOfReasons.model_validate_json(line)
                except ValidationError:
                    self.counts["unreadable_statements"] += 1
                    continue
                if wants_to_appeal(statement, truth, self._seed, *self._shares):
                    due.append((statement, 0))
            self._read.add(key)
        filed = sum(self._file(statement, tries) for statement, tries in due)
        self.counts["appeals_filed"] += filed
        return filed

    def _file(self, statement: StatementOfReasons, tries: int) -> bool:
        """File one appeal; True when it stands (answered 201 or 200)."""
        answer = self._http.post(
            f"/appeals/{statement.message_id}",
            json={"user_id": statement.user_id, "reason": "I do not think this broke the rules."},
            headers=self._headers,
        )
        self.counts[f"appeal_{answer.status_code}"] += 1
        if answer.status_code in (404, 409) and tries < RETRIES:
            self._retry[statement.message_id] = (statement, tries + 1)
        elif answer.status_code in (404, 409):
            self.counts["appeals_given_up"] += 1
        return answer.status_code in (200, 201)


class OutcomeReader:
    """The bot's reader of appeals' outcomes: each outcome once (the keys read kept in a state file)."""

    def __init__(self, s3: "S3Client", bucket: str, prefix: str, state_file: Path) -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix
        self._read = ReadKeys(state_file)

    def poll(self, apply: Callable[[list[AppealOutcome]], object]) -> int:
        """Hand the outcomes written since the last pass to `apply`, then keep their keys as read: an
        `apply` that raises (the audit trail not answering) leaves them to be read again. How many."""
        listed = list_keys(self._s3, self._bucket, appeal_outcomes_prefix(self._prefix), "statements")
        keys = self._read.new(listed)
        out: list[AppealOutcome] = []
        for key, body in read_objects(self._s3, self._bucket, keys):
            if isinstance(body, AwsError):
                raise body  # none is kept as read: the next pass reads them all again
            for line in body.splitlines():
                try:
                    out.append(AppealOutcome.model_validate_json(line))
                except ValidationError:
                    log.warning({"event": "bot_outcome_unreadable", "key": key})
        if not keys:
            return 0
        apply(out)
        self._read.finished(keys)
        return len(out)
