"""The moderation bot acts once per message and plays the moderators from the ground truth."""

import random
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from contracts.storage import GroundTruth
from contracts.verdict import Action, Verdict
from producer_sim.bot import BotState, TruthFile, act
from tests.builders import verdict
from training.data import Community

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def truth_for(*verdicts: Verdict, label: str = "remove") -> dict[UUID, GroundTruth]:
    return {
        v.message_id: GroundTruth(message_id=v.message_id, community=Community.TWEETS, label=label)
        for v in verdicts
    }


def test_each_message_is_acted_on_once_even_when_the_stream_repeats_it() -> None:
    # GIVEN a verdict delivered twice (the stream is at-least-once)
    v = verdict(Action.REMOVE)
    state = BotState()
    act([v, v], state, {}, 1.0, 0.0, random.Random(1), NOW)
    act([v], state, {}, 1.0, 0.0, random.Random(1), NOW)
    # THEN it was hidden once and the repeats were ignored
    assert state.counts["hidden"] == 1
    assert state.counts["duplicates_ignored"] == 2


def test_reviewed_messages_get_the_human_label_as_feedback() -> None:
    queued, allowed = verdict(Action.REVIEW), verdict(Action.ALLOW)
    state = BotState()
    decisions = act([queued, allowed], state, truth_for(queued, allowed), 1.0, 0.0, random.Random(1), NOW)
    assert [(d.message_id, d.label) for d in decisions] == [(queued.message_id, "remove")]
    assert decisions[0].decided_by.startswith("moderator-")
    assert decisions[0].decided_at == NOW
    assert state.counts["queued"] == 1
    assert state.counts["allowed"] == 1


def test_a_share_of_other_messages_is_sampled_and_misses_are_counted() -> None:
    allowed = [verdict(Action.ALLOW) for _ in range(1000)]
    state = BotState()
    decisions = act(allowed, state, truth_for(*allowed), 1.0, 0.1, random.Random(3), NOW)
    assert 60 < len(decisions) < 140
    assert state.counts["missed_by_model"] == len(decisions)


def test_messages_without_ground_truth_are_counted_not_invented() -> None:
    state = BotState()
    assert act([verdict(Action.REVIEW)], state, {}, 1.0, 0.0, random.Random(1), NOW) == []
    assert state.counts["no_ground_truth"] == 1


def test_the_truth_file_is_read_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    truth = TruthFile(path)
    assert truth.refresh() == {}
    first, second = (
        GroundTruth(message_id=uuid4(), community=Community.TWEETS, label="remove") for _ in "ab"
    )
    path.write_text(first.model_dump_json() + "\n" + second.model_dump_json()[:20])  # second half-written
    assert set(truth.refresh()) == {first.message_id}
    with path.open("a") as fh:
        fh.write(second.model_dump_json()[20:] + "\nnot json\n")
    assert set(truth.refresh()) == {first.message_id, second.message_id}
