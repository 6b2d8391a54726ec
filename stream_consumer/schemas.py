"""Moved to `contracts` (one home for every format); kept only while the demo moves its imports."""

from contracts.chat import MAX_TEXT_CHARS, ChatMessage
from contracts.dead_letter import DeadLetter, RejectReason
from contracts.lambda_event import BadEnvelope, BatchResponse, EventError, KinesisRecord, read_event
from contracts.storage import ArchivedMessage, ChampionManifest, GroundTruth, ModeratorDecision
from contracts.verdict import Action, Verdict

__all__ = [
    "MAX_TEXT_CHARS",
    "Action",
    "ArchivedMessage",
    "BadEnvelope",
    "BatchResponse",
    "ChampionManifest",
    "ChatMessage",
    "DeadLetter",
    "EventError",
    "GroundTruth",
    "KinesisRecord",
    "ModeratorDecision",
    "RejectReason",
    "Verdict",
    "read_event",
]
