"""The consumer's CloudWatch EMF metrics: namespace, service and names, for the code that emits them,
the production dashboard and alarms (Terraform, held by a test) and the demo's live view."""

from typing import get_args

from contracts.policy import SignalName
from contracts.verdict import Action, Stage

NAMESPACE = "ChatModeration"
SERVICE = "consumer"
# The review app's: each decided appeal, by the category it contested — over every model version and
# channel (what the overturn alarm reads), and per model version and channel (the restriction's).
REVIEW_SERVICE = "review"
APPEALS_DECIDED = "AppealsDecided"
OVERTURNED = "Overturned"
# The strikes writer's (`strikes.writer`): each pass that found the strikes table or the escalations
# queue unreachable (no escalation meanwhile; the records are read again), by the failed call.
STRIKES_SERVICE = "strikes"
STRIKES_UNAVAILABLE = "StrikesUnavailable"

BATCHES_WITHOUT_MODEL = "BatchesWithoutModel"
SINK_ERRORS = "SinkErrors"
DEAD_LETTERS = "DeadLetters"
RETRIED_RECORDS = "RetriedRecords"
HANDLER_DURATION = "HandlerDuration"
CHAMPION_VERSION = "ChampionVersion"
MODEL_RELOADS = "ModelReloads"
MODEL_RELOAD_FAILURES = "ModelReloadFailures"
WINDOWS_CLOSED = "WindowsClosed"  # tumbling windows whose final invocation succeeded
WINDOW_STATE_ERRORS = "WindowStateErrors"  # a window state that could not be read: a fresh one started
SHADOW_SCORED = "ShadowScored"  # messages the challenger scored beside the champion (archived with it)
SHADOW_DROPPED = "ShadowDropped"  # batches whose shadow scoring failed, stalled or found it busy
CANARY_SERVED = "CanaryServed"  # written verdicts the canary gave (on the share of channels it serves)
SIGNALS: tuple[str, ...] = get_args(SignalName)


def verdicts(action: Action | str) -> str:
    """The count of written verdicts with this action (`Verdicts_allow`, …)."""
    return f"Verdicts_{Action(action).value}"


def stage(name: Stage | str) -> str:
    """The count of written verdicts scored at this stage of the cascade (`Stage_encoder`, …)."""
    return f"Stage_{Stage(name).value}"


def signal(name: str) -> str:
    """The count of written verdicts for which this context signal fired (`Signal_raid`, …)."""
    if name not in SIGNALS:
        raise ValueError(f"unknown context signal {name!r}")
    return f"Signal_{name}"


ALL = frozenset(
    {
        BATCHES_WITHOUT_MODEL,
        SINK_ERRORS,
        DEAD_LETTERS,
        RETRIED_RECORDS,
        HANDLER_DURATION,
        CHAMPION_VERSION,
        MODEL_RELOADS,
        MODEL_RELOAD_FAILURES,
        SHADOW_SCORED,
        SHADOW_DROPPED,
        CANARY_SERVED,
        *(verdicts(a) for a in Action),
        *(stage(s) for s in Stage),
        WINDOWS_CLOSED,
        WINDOW_STATE_ERRORS,
        *(signal(s) for s in SIGNALS),
    }
)
