"""Settings of the training deployable (`python -m training`, the Prefect `train_flow`)."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from contracts.categories import Category
from runtime.paths import PROJECT_ROOT, STATE_DIR
from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings
from training.corpora import Source
from training.promotion import PromotionPolicy

_PROMOTION = PromotionPolicy()


class TrainingSettings(DeployableSettings):
    """Where data, the tracking server and the models bucket are, and how strict promotion is."""

    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore", populate_by_name=True)
    STACK_RESOURCES = ("models_bucket", "audit_bucket")

    data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        validation_alias=AliasChoices("DATA_DIR", "TRAINING_DATA_DIR", "data_dir"),
    )
    state_dir: Path = STATE_DIR
    # Default: a sqlite file and a local artifact folder under the state directory; any URI works.
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "TRAINING_TRACKING_URI", "tracking_uri"),
    )
    # The labelled sets of DATA_DIR to train on (`training.corpora.Source`), and the categories to train:
    # by default every set and every category they can teach.
    sources: list[Source] = Field(default_factory=lambda: list(Source))
    categories: list[Category] = Field(default_factory=lambda: list(Category))
    experiment: str = "chat-moderation"
    model_name: str = _STACK.model_name
    seed: int = 42
    validation_share: float = 0.15
    test_share: float = 0.15
    # Promotion's gain and loss margins: PromotionPolicy's defaults (their one home), overridable here.
    min_gain: float = Field(default=_PROMOTION.min_gain, ge=0.0)
    max_loss: float = Field(default=_PROMOTION.max_loss, ge=0.0)
    min_guard_class: int = Field(default=_PROMOTION.min_guard_class, ge=0)
    reference_size: int = 2_000
    models_bucket: str = _STACK.models_bucket.name
    # The audit trail a champion's move (promotion, rollback) is appended to.
    audit_bucket: str = _STACK.audit_bucket.name
    audit_prefix: str = _STACK.audit_bucket.prefix
    manifest_key: str = _STACK.models_bucket.champion_manifest_key
    challenger_manifest_key: str = _STACK.models_bucket.challenger_manifest_key
    canary_manifest_key: str = _STACK.models_bucket.canary_manifest_key
    publish: bool = True  # write the exported champion and its manifest to the models bucket
    # Where a version the offline gate passes goes while a champion serves: `offline`, it becomes champion
    # at once; `live`, it is published as the challenger the consumers shadow-score, and
    # `monitoring.live_flow.live_promotion_flow` promotes it (as a canary) only on the moderators' labels.
    promotion_path: Literal["offline", "live"] = "offline"
    # The champion lock (see training/lock.py), in the models bucket: a mover holding it longer than the
    # lease may be taken over (and is then fenced out); a mover waits this long for it, then is refused.
    lock_key: str = _STACK.models_bucket.champion_lock_key
    lock_lease_s: float = Field(default=60.0, gt=0)
    lock_wait_s: float = Field(default=90.0, ge=0)
    # The evasion suite's promotion floors, on held-out tweets (see training/adversarial.py): every
    # obfuscation family must keep this share of toxic messages flagged and removed, and raise the
    # benign flag rate by at most this much. The benchmark reports the measured table against the goals
    # (95% / 90% / +2 points). The floors sit under the goals because a model of a community's own
    # removals (r/science's) weighs a comment's length, so appended neutral words dilute it: guards
    # against regressions; what each model keeps is in its evasion report and the bench results.
    evasion_floor_flagged: float = 0.6
    evasion_floor_removed: float = 0.0
    evasion_max_false_flag_increase: float = 0.05
    evasion_messages: int = 1_000  # toxic and benign held-out tweets the suite runs on, each
    # Padding (training/behaviour.py): of a default-acting category's messages at or above review, the
    # share that must stay there with fifty-odd neutral words before or after them. The goal is 90%;
    # the heads keep less for hate than for toxicity and spam (short hateful messages lose weight in a
    # window they share with small talk), so the promotion floor sits under the goal, guarding against
    # regressions; the model card and the categories benchmark report each head's measured share.
    padding_floor_kept: float = Field(default=0.45, ge=0, le=1)
    # Of the messages below review, the share the padding may raise to it: the goal is at most 5%; the
    # toxicity head's share moves with the sets it learns from, so the ceiling sits above the goal (each
    # version's behaviour report records its share).
    padding_max_raised: float = Field(default=0.08, ge=0, le=1)
    # Identity bias (training/bias.py): the toxicity head's Jigsaw final score on the templated identity
    # set must reach this floor, and a challenger whose score falls below the champion's lower confidence
    # bound is not promoted.
    bias_floor: float = 0.90
    bias_resamples: int = 200
    # How far under the champion's lower bound an operator accepts a challenger's templated score (the
    # floor still holds): 0 by default. A community's own labels can carry a bias of their own (the
    # tweets' hate labels follow dialect, Sap et al., 2019); learning them is then a decision someone
    # makes, and the promotion's reasons record it.
    bias_max_decline: float = Field(default=0.0, ge=0.0, le=0.1)
    # The cascade (training/cascade.py): encoder heads over the fast model, whose uncertain bands hold
    # this share of the validation texts together (its cost in handler throughput: the cascade benchmark's
    # curve, `cascade-latest.json`); embeddings cached under the state directory. The fast model knows a
    # language with at least `min_language_texts` training texts; any other goes to the encoder.
    cascade: bool = True
    escalation_share: float = Field(default=0.05, ge=0, le=1)
    min_language_texts: int = Field(default=1_000, ge=1)
    embedding_cache_file: Path | None = None  # default: embeddings.sqlite in the state directory

    @property
    def embedding_cache(self) -> Path:
        return self.embedding_cache_file or self.state_dir / "embeddings.sqlite"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        return (self.state_dir / "mlartifacts").as_uri()

    @property
    def promotion_policy(self) -> PromotionPolicy:
        """The margins a challenger must clear to be promoted."""
        return PromotionPolicy(
            min_gain=self.min_gain, max_loss=self.max_loss, min_guard_class=self.min_guard_class
        )
