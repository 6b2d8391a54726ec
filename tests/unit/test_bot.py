"""The moderation bot acts once per message and plays the moderators from the ground truth."""

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from contracts.chat import Label
from contracts.policy import CategoryRule, Thresholds
from contracts.storage import GroundTruth, ModeratorDecision
from contracts.verdict import Action, CategoryScore, Reason, Span, Verdict
from producer_sim.bot import BotState, TruthFile, act
from producer_sim.communities import Community
from producer_sim.moderators import due
from tests.builders import verdict

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
    act([v, v], state, {}, 1.0, 0.0, 1, NOW)
    act([v], state, {}, 1.0, 0.0, 1, NOW)
    # THEN it was hidden once and the repeats were ignored
    assert state.counts["hidden"] == 1
    assert state.counts["duplicates_ignored"] == 2


def test_reviewed_messages_get_the_human_label_as_feedback() -> None:
    queued, allowed = verdict(Action.REVIEW), verdict(Action.ALLOW)
    state = BotState()
    decisions = act([queued, allowed], state, truth_for(queued, allowed), 1.0, 0.0, 1, NOW)
    assert [(d.message_id, d.label) for d in decisions] == [(queued.message_id, "remove")]
    assert decisions[0].decided_by.startswith("moderator-")
    assert decisions[0].decided_at == NOW
    assert state.counts["queued"] == 1
    assert state.counts["allowed"] == 1


def test_a_share_of_other_messages_is_sampled_and_misses_are_counted() -> None:
    allowed = [verdict(Action.ALLOW) for _ in range(1000)]
    state = BotState()
    decisions = act(allowed, state, truth_for(*allowed), 1.0, 0.1, 3, NOW)
    assert 60 < len(decisions) < 140
    assert state.counts["missed_by_model"] == len(decisions)


def test_who_decides_on_what_does_not_depend_on_the_order_verdicts_arrive_in() -> None:
    # GIVEN the same verdicts arriving in two orders (shards interleave differently on every run)
    verdicts = [verdict(Action.REVIEW if i % 3 else Action.ALLOW) for i in range(400)]
    truth = truth_for(*verdicts)
    forward = act(verdicts, BotState(), truth, 0.5, 0.1, 7, NOW)
    backward = act(verdicts[::-1], BotState(), truth, 0.5, 0.1, 7, NOW)
    # THEN the same messages are decided, by the same moderators, with all of them at work
    assert {(d.message_id, d.decided_by) for d in forward} == {(d.message_id, d.decided_by) for d in backward}
    assert {d.decided_by for d in forward} == {f"moderator-{i}" for i in range(1, 6)}
    # AND another seed draws another sample
    assert {d.message_id for d in act(verdicts, BotState(), truth, 0.5, 0.1, 8, NOW)} != {
        d.message_id for d in forward
    }


def test_messages_without_ground_truth_are_counted_not_invented() -> None:
    state = BotState()
    assert act([verdict(Action.REVIEW)], state, {}, 1.0, 0.0, 1, NOW) == []
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


def _by_category(action: Action, category: str, score: float, spans: list[Span]) -> Verdict:
    rule = CategoryRule(acts=True, thresholds=Thresholds())
    judged = CategoryScore(
        score=score,
        acts=rule.acts,
        thresholds=rule.thresholds,
        action=action,
        reasons=[Reason(feature="idiot", spans=spans)],
    )
    return verdict(action, score=score).model_copy(
        update={"category": category, "categories": {category: judged}}
    )


def test_the_moderator_rules_on_the_category_that_decided_when_the_truth_labels_it() -> None:
    # GIVEN a message removed for toxicity whose truth says toxic but within the community's standard
    toxic = _by_category(Action.REMOVE, "toxicity", 0.95, [Span(start=4, end=9)])
    spam = _by_category(Action.REVIEW, "spam", 0.6, [])
    truth = {
        toxic.message_id: GroundTruth(
            message_id=toxic.message_id,
            community=Community.TWEETS,
            label="allow",
            categories={"toxicity": 1, "removal": 0},
        ),
        spam.message_id: GroundTruth(message_id=spam.message_id, community=Community.TWEETS, label="remove"),
    }
    state = BotState()
    decisions = act([toxic, spam], state, truth, 1.0, 1.0, 1, NOW)
    # THEN the decision names the category it was taken on, with that category's truth
    assert [(d.category, d.label) for d in decisions] == [("toxicity", "remove"), ("removal", "remove")]
    assert state.counts["hidden_toxicity"] == 1
    assert state.counts["queued_spam"] == 1
    # AND the moderators' queue shows the deciding category's reasons with their spans, no text
    first = state.queue[0]
    assert (first.category, first.action, first.reasons[0].spans) == (
        "toxicity",
        Action.REMOVE,
        [Span(start=4, end=9)],
    )
    assert "text" not in first.model_dump()


def test_a_decision_written_before_categories_reads_as_removal() -> None:
    old = '{"message_id": "%s", "label": "remove", "decided_by": "m", "decided_at": "2026-01-01T00:00:00Z"}'
    assert ModeratorDecision.model_validate_json(old % uuid4()).category == "removal"


def test_with_the_review_app_the_bot_leaves_reviewed_messages_to_the_moderators_there() -> None:
    reviewed = [verdict(Action.REVIEW) for _ in range(40)]
    others = [verdict(Action.ALLOW) for _ in range(400)]
    truth = truth_for(*reviewed, *others)
    state = BotState()
    decisions = act([*reviewed, *others], state, truth, 1.0, 0.1, 7, NOW, review_in_queue=True)
    # THEN no reviewed message is decided here (the queue's moderators decide them), the sample is
    assert not {d.message_id for d in decisions} & {v.message_id for v in reviewed}
    assert decisions
    assert state.counts["left_to_queue"] == 40
    assert decisions == act([*reviewed, *others], BotState(), truth, 1.0, 0.1, 7, NOW)[-len(decisions) :]


def test_the_queues_moderators_decide_what_the_bot_would_have_decided_the_same_way() -> None:
    # GIVEN reviewed verdicts, as the bot sees them and as the review app lists their items
    reviewed = [verdict(Action.REVIEW) for _ in range(200)]
    reviewed = [
        v.model_copy(update={"category": "toxicity" if i % 2 else None}) for i, v in enumerate(reviewed)
    ]
    truth = {
        v.message_id: GroundTruth(
            message_id=v.message_id,
            community=Community.TWEETS,
            label="remove" if i % 3 else "allow",
            categories={"toxicity": i % 5 == 0},
        )
        for i, v in enumerate(reviewed)
    }
    entries = [{"item": {"message_id": str(v.message_id), "category": v.category}} for v in reviewed[::-1]]
    by_bot = act(reviewed, BotState(), truth, 0.7, 0.0, 11, NOW)
    in_queue = due(entries, truth, 0.7, 11, accounts=5)
    # THEN the same messages, the same category and label, and the same moderator names
    expected = {(d.message_id, d.category, d.label, d.decided_by) for d in by_bot}
    assert {(d.message_id, d.category, d.label, f"moderator-{d.account + 1}") for d in in_queue} == expected
    assert 100 < len(expected) < 180


def test_a_moderators_decision_in_the_app_is_never_acted_against() -> None:
    # GIVEN verdicts the bot's memory lost (repeated after a restart, replayed, re-scored) on messages a
    # moderator already decided in the review app: one removed by the human, one allowed
    kept_up, taken_down, fresh = verdict(Action.REMOVE), verdict(Action.REVIEW), verdict(Action.REVIEW)
    human: dict[UUID, Label] = {kept_up.message_id: "allow", taken_down.message_id: "remove"}
    truth = truth_for(kept_up, taken_down, fresh)
    state = BotState()
    decisions = act([kept_up, taken_down, fresh], state, truth, 1.0, 1.0, 7, NOW, human=human)
    # THEN the human's decisions are applied and neither is decided again; the fresh one is decided
    assert [d.message_id for d in decisions] == [fresh.message_id]
    assert (state.counts["allowed"], state.counts["hidden"], state.counts["queued"]) == (1, 1, 1)
    assert state.counts["human_decision_kept"] == 2
    assert state.counts["human_decision_kept_on_review"] == 1  # the one whose verdict was a review
