"""What the project keeps in its buckets: archive lines, moderator decisions, the simulator's ground
truth, the drift reference, `champion.json` and the champion lock; the keys that name them; their JSON
Lines encoding."""

import gzip
import zlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts.chat import ChatMessage, Label
from contracts.verdict import Action, Stage, Verdict

SCORER_FILE = "scorer.npz"  # a model version's exported scorer
REFERENCE_FILE = "reference.jsonl.gz"  # a model version's drift reference: held-out texts, scored
DRIFT_STATE_FILE = "drift_state.json"  # the drift monitor's memory (last retraining trigger)


# --- keys ------------------------------------------------------------------------------------


def archive_key(prefix: str, shard_id: str, first: str, last: str, arrived: datetime) -> str:
    """An archive object: partitioned by its first record's arrival hour, named by shard and sequence
    range, so a retried identical batch overwrites its own object."""
    return f"{prefix}dt={arrived:%Y-%m-%d}/hour={arrived:%H}/{shard_id}-{first}-{last}.jsonl.gz"


def feedback_key(prefix: str, arrived: datetime, shard_id: str, first_sequence: str) -> str:
    """A feedback object (or the bot's statements of reasons of a batch): named after its batch's first
    record, so a repeated write (a lost answer, a restart) on the same records replaces the first instead
    of adding a copy."""
    return f"{prefix}dt={arrived:%Y-%m-%d}/hour={arrived:%H}/{shard_id}-{first_sequence}.jsonl"


# A decision's provenance (`ModeratorDecision.decision_source`) beside the bot's own ("bot"): made in the
# review app's queue, or on an appeal there.
QUEUE_SOURCE = "queue"
APPEAL_SOURCE = "appeal"


def appeal_outcomes_prefix(statements_prefix: str) -> str:
    """Where appeals' outcomes go, under the statements prefix but apart from the statements of reasons:
    their readers (the bot every few seconds, every drift check) list these alone."""
    return f"{statements_prefix}{APPEAL_SOURCE}s/"


def appeal_outcome_key(statements_prefix: str, decided_at: datetime, message_id: str) -> str:
    """Where an appeal's outcome goes: one object per message (a repeated write replaces it)."""
    return feedback_key(appeal_outcomes_prefix(statements_prefix), decided_at, APPEAL_SOURCE, message_id)


def is_appeal_outcome_key(key: str) -> bool:
    """Whether a key under the statements prefix holds an appeal's outcome (not statements of reasons)."""
    return f"/{APPEAL_SOURCE}-" in key


def model_key(model_name: str, version: str, file: str) -> str:
    """Where a registered version's files go in the models bucket."""
    return f"models/{model_name}/{version}/{file}"


def drift_report_key(reports_prefix: str, stamp: str) -> str:
    """One drift check's report."""
    return f"{reports_prefix}drift/{stamp}"


# --- encodings ---------------------------------------------------------------------------------


def gzip_lines(lines: Iterable[str]) -> bytes:
    """JSON Lines, gzip'd: level 1 (cheap on the hot path), no timestamp (equal input, equal bytes)."""
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1, mtime=0)


def gunzip_text(body: bytes) -> str | None:
    """A gzip'd object's UTF-8 text, or None when it is not gzip'd UTF-8."""
    try:
        return gzip.decompress(body).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def json_lines(models: Iterable[BaseModel]) -> bytes:
    """Plain JSON Lines (feedback objects)."""
    return "".join(m.model_dump_json() + "\n" for m in models).encode()


# --- formats -----------------------------------------------------------------------------------


class ShadowVerdict(BaseModel):
    """What the challenger would have done with a message the champion judged: its action, the category
    that decided it and every category's probability, scored exactly as it would serve (the channel's
    rules and policy, the cascade), but never acted on."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_version: str
    action: Action
    category: str | None
    scores: dict[str, float]
    stage: Stage | None = None


class ArchivedMessage(BaseModel):
    """One line of an archive object: the message as received, the verdict it got and, when it was drawn
    for shadow scoring while a challenger was published, the challenger's (`shadow`: None otherwise, and
    in lines written before shadows)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    shard_id: str
    sequence_number: str
    approximate_arrival: float
    message: ChatMessage
    verdict: Verdict
    shadow: ShadowVerdict | None = None


class ModeratorDecision(BaseModel):
    """A human moderator's decision on a message, as the moderation bot records it (feedback)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    message_id: UUID
    label: Label  # remove: the message is one of `category`; allow: it is not
    decided_by: str
    decided_at: AwareDatetime
    category: str = "removal"  # what the moderator decided on (decisions before categories: removal)
    # Where it was made: "bot" (the simulator's moderators reading the ground truth), "queue" (a
    # moderator in the review app). Older decisions have none: "bot".
    decision_source: str = "bot"
    # The message's channel, author and sending time, for the strikes it sets (`strikes`); decisions
    # written before strikes have none, and set no strike.
    channel_id: str | None = None
    user_id: str | None = None
    sent_at: AwareDatetime | None = None


class GroundTruth(BaseModel):
    """The human label of a published message, kept out of the record (the simulator's side file)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    message_id: UUID
    community: str
    label: Label  # the moderators' decision: the `removal` category
    categories: dict[str, int] = {}  # each category the message's data set labels: 1 = it is one
    shape: str = "ordinary"  # what traffic the message is part of: ordinary, burst, flood or raid
    shape_id: str | None = None  # the shape instance (e.g. raid-3f9c2a-1); None for ordinary messages


class ReferenceRow(BaseModel):
    """One line of a model version's drift reference: a held-out text and the score the model gave it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    text: str
    label: Label
    community: str
    score: float  # the `removal` score (0 when the model has no removal head)
    scores: dict[str, float] = {}  # every category's, from the same model version


class ChampionManifest(BaseModel):
    """`champion.json` in the models bucket: which exported model serves, written by a champion move.

    Read tolerantly: fields a reader does not know are ignored, so adding one breaks no running consumer.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    model_name: str
    version: str
    run_id: str
    artifact_uri: str  # s3://bucket/key of the exported model archive
    sha256: str
    promoted_at: AwareDatetime
    promoted_by: str
    normal_form: str | None = None  # the normal form the model was trained with (older manifests: none)
    # The champion lock's token of the move that wrote it: a move holding a lower one may not replace it.
    # None: written before the lock existed, or by a tool outside a move (tests, benchmarks).
    fencing_token: int | None = Field(default=None, ge=1)
    # `canary.json` only: the share of channels the version serves (`contracts.policy.serves_canary`),
    # the stable champion serving the others and shadow-scoring these.
    share: float | None = Field(default=None, ge=0.0, le=1.0)


class LeaseRecord(BaseModel):
    """A lock object in a bucket (the champion lock, `locks/champion.json`): who holds it, the fencing
    token of that holding and when its lease runs out. Replaced on every holding, never deleted, so the
    token only grows; a release marks it released instead of removing it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    holder: str
    token: int = Field(ge=1)
    acquired_at: AwareDatetime
    expires_at: AwareDatetime
    released: bool = False


def parse_object(body: bytes) -> tuple[list[ArchivedMessage], Counter[str]]:
    """The lines of one archive object (an `ArchivedMessage` each); bad ones are counted by reason
    (`corrupt_object`, `bad_line`)."""
    skipped: Counter[str] = Counter()
    text = gunzip_text(body)
    if text is None:
        skipped["corrupt_object"] += 1
        return [], skipped
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            out.append(ArchivedMessage.model_validate_json(line))
        except ValidationError:
            skipped["bad_line"] += 1
    return out, skipped
