"""The consumer's CloudWatch EMF metrics: namespace, service and names, for the code that emits them,
the production dashboard and alarms (Terraform, held by a test) and the demo's live view."""

from contracts.verdict import Action, Stage

NAMESPACE = "ChatModeration"
SERVICE = "consumer"

BATCHES_WITHOUT_MODEL = "BatchesWithoutModel"
SINK_ERRORS = "SinkErrors"
DEAD_LETTERS = "DeadLetters"
RETRIED_RECORDS = "RetriedRecords"
HANDLER_DURATION = "HandlerDuration"
CHAMPION_VERSION = "ChampionVersion"
MODEL_RELOADS = "ModelReloads"
MODEL_RELOAD_FAILURES = "ModelReloadFailures"


def verdicts(action: Action | str) -> str:
    """The count of written verdicts with this action (`Verdicts_allow`, …)."""
    return f"Verdicts_{Action(action).value}"


def stage(name: Stage | str) -> str:
    """The count of written verdicts scored at this stage of the cascade (`Stage_encoder`, …)."""
    return f"Stage_{Stage(name).value}"


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
        *(verdicts(a) for a in Action),
        *(stage(s) for s in Stage),
    }
)
