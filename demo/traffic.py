"""The story's chat traffic: which texts each phase replays (none that a model trained on), and what
the chat servers delivered, by phase (the live view, the waits and the ledger read it as it grows)."""

import hashlib
from dataclasses import dataclass, field

from producer_sim.communities import Community
from producer_sim.replay import OutgoingRecord
from runtime.kinesis import Delivered
from training.corpora import Example, Source, dedupe_key, source_splits
from training.settings import TrainingSettings


@dataclass
class Traffic:
    """What the chat servers delivered, by phase."""

    phase: str = ""
    delivered: dict[str, list[Delivered[OutgoingRecord]]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)  # message ids by phase (valid records)
    tips: dict[str, int] = field(default_factory=dict)  # the highest sequence number per shard

    @property
    def published(self) -> int:
        """Records delivered so far, every phase."""
        phases = list(self.delivered.values())  # a copy: the story adds phases while the view reads
        return sum(len(records) for records in phases)

    def begin(self, phase: str) -> None:
        """Count what follows under `phase`."""
        self.phase = phase
        self.delivered[phase], self.ids[phase] = [], []

    def add(self, delivered: list[Delivered[OutgoingRecord]]) -> None:
        """Record a delivered batch under the current phase."""
        records, ids = self.delivered[self.phase], self.ids[self.phase]
        for d in delivered:
            records.append(d)
            self.tips[d.shard_id] = max(self.tips.get(d.shard_id, 0), int(d.sequence_number))
            if d.entry.truth is not None:
                ids.append(str(d.entry.truth.message_id))


_SETS = {Community.RSCIENCE: [Source.RSCIENCE], Community.SPAM: [Source.YOUTUBE, Source.SMS]}


def unseen_texts(community: Community, pool: list[Example], half: int) -> list[Example]:
    """Traffic no model has trained on, like a real community's new messages: r/science's held-out
    rows (the champion's validation and test splits), the spam sets' held-out spam, and one half of
    the tweets — English or German — (split by a hash of the text) before the retraining on them, the
    other half after it, so served quality is measured on unseen text."""
    t = TrainingSettings()
    if community in _SETS:  # the sets' held-out rows, as the champion's split left them
        sets = source_splits(
            t.data_dir, *_SETS[community], seed=t.seed, validation=t.validation_share, test=t.test_share
        )
        held = {dedupe_key(e.text) for e in sets.validation + sets.test}
        return [x for x in pool if dedupe_key(x.text) in held]
    return [x for x in pool if int(hashlib.sha256(x.text.casefold().encode()).hexdigest(), 16) % 2 == half]
