"""The simulator builds real, schema-valid chat messages and the poison kinds it promises."""

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.chat import ChatMessage, label_of
from producer_sim.activity import CHEERS, LONG_CHEERS, RAID_COPYPASTA, Burst, Flood, Raid, Shape
from producer_sim.communities import Community, load_community
from producer_sim.replay import MalformedKind, OutgoingRecord, Replay, parse_mix
from runtime.kinesis import MAX_BYTES_PER_PUT, MAX_RECORDS_PER_PUT, batches, split_results
from tests.builders import chat_line

POOLS = {
    Community.RSCIENCE: [
        chat_line("The effect size is small and the sample is not representative.", Community.RSCIENCE),
        chat_line("lol", Community.RSCIENCE, 1),
    ],
    Community.TWEETS: [chat_line("RT @someone: you are all idiots", Community.TWEETS, 1)],
}


def test_mix_parses_counts_shares_and_seconds() -> None:
    # GIVEN a schedule with a plain phase, a weighted phase and one given in seconds
    phases = parse_mix("rscience:100, rscience=0.8+tweets=0.2:50,tweets:3s", rate=20)
    # THEN each phase has its count and weights
    assert [p.count for p in phases] == [100, 50, 60]
    assert dict(phases[1].weights) == {Community.RSCIENCE: 0.8, Community.TWEETS: 0.2}


@pytest.mark.parametrize("spec", ["rscience", "reddit:10", "rscience:10s", "rscience=0:5"])
def test_bad_mix_is_rejected_with_a_reason(spec: str) -> None:
    with pytest.raises(ValueError, match=r"mix phase|community"):
        parse_mix(spec)


def test_messages_are_valid_and_keep_the_label_out_of_the_record() -> None:
    # GIVEN a replay of both communities
    replay = Replay(POOLS, channels=3, users=10, seed=1)
    records = list(replay.records(parse_mix("rscience=0.5+tweets=0.5:200")))
    # THEN every record is a valid ChatMessage keyed by its channel, with no label inside
    for record in records:
        msg = ChatMessage.model_validate_json(record.data)
        assert record.partition_key == msg.channel_id
        assert record.truth is not None
        assert record.truth.message_id == msg.message_id
        assert b"label" not in record.data
        assert b"community" not in record.data
    # AND ids are unique and both communities are present
    assert len({r.message_id for r in records}) == 200
    assert {r.truth.community for r in records if r.truth} == {Community.RSCIENCE, Community.TWEETS}


def test_replay_draws_the_same_texts_for_a_seed_but_never_reuses_an_id() -> None:
    first = list(Replay(POOLS, seed=3).records(parse_mix("rscience:20")))
    again = list(Replay(POOLS, seed=3).records(parse_mix("rscience:20")))
    assert [(r.partition_key, r.truth.label) for r in first if r.truth] == [
        (r.partition_key, r.truth.label) for r in again if r.truth
    ]
    assert not {r.message_id for r in first} & {r.message_id for r in again}


@pytest.mark.parametrize("kind", list(MalformedKind))
def test_every_malformed_kind_fails_the_schema(kind: MalformedKind) -> None:
    # GIVEN a poison record of each kind
    record = Replay(POOLS, seed=2).malformed(kind, Community.RSCIENCE)
    # THEN the consumer's own schema rejects it, and no ground truth is recorded for it
    assert record.truth is None
    assert record.malformed is kind
    with pytest.raises((ValidationError, json.JSONDecodeError)):
        ChatMessage.model_validate_json(record.data)


def test_malformed_share_is_respected() -> None:
    records = list(Replay(POOLS, malformed_share=0.1, seed=5).records(parse_mix("rscience:2000")))
    share = sum(r.malformed is not None for r in records) / len(records)
    assert 0.07 < share < 0.13
    assert len(Counter(r.malformed for r in records if r.malformed)) == len(MalformedKind)


def _record(size: int) -> OutgoingRecord:
    return OutgoingRecord(b"x" * size, "k", None, None)


def test_batches_respect_the_record_count_limit() -> None:
    sizes = [len(b) for b in batches(_record(10) for _ in range(1234))]
    assert sizes == [MAX_RECORDS_PER_PUT, MAX_RECORDS_PER_PUT, 234]


def test_batches_respect_the_request_size_limit() -> None:
    # GIVEN records of ~900 KiB: six of them exceed 5 MiB
    big = [_record(900 * 1024) for _ in range(12)]
    out = list(batches(big))
    assert all(sum(r.size for r in b) <= MAX_BYTES_PER_PUT for b in out)
    assert sum(len(b) for b in out) == 12
    assert len(out) == 3


def test_an_oversize_record_is_refused() -> None:
    with pytest.raises(ValueError, match="1 MiB"):
        list(batches([_record(1024 * 1024 + 1)]))


def test_failed_records_are_picked_by_their_own_error_code() -> None:
    # GIVEN an answer that reports FailedRecordCount wrongly, as emulators do
    batch = [_record(1), _record(2), _record(3)]
    results = [
        {"ShardId": "shardId-0", "SequenceNumber": "1"},
        {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"},
        {"ShardId": "shardId-1", "SequenceNumber": "2"},
    ]
    delivered, failed = split_results(batch, results)
    assert [d.entry for d in delivered] == [batch[0], batch[2]]
    assert failed == [(batch[1], "ProvisionedThroughputExceededException")]


def test_communities_load_with_their_moderators_removals(data_dir: Path) -> None:
    science, tweets = load_community(data_dir, Community.RSCIENCE), load_community(data_dir, Community.TWEETS)
    assert len(science) > 5_000
    assert 0.25 < sum(t.removal() for t in science) / len(science) < 0.4
    assert len(tweets) > 20_000
    assert sum(t.removal() for t in tweets) / len(tweets) > 0.8


# --- activity and shapes -------------------------------------------------------------------------


def test_every_existing_spec_parses_as_before_with_no_shapes() -> None:
    phases = parse_mix("rscience:100, rscience=0.8+tweets=0.2:50,tweets:3s", rate=20)
    assert [(p.count, p.total, p.shapes) for p in phases] == [(100, 100, ()), (50, 50, ()), (60, 60, ())]


def test_a_phase_carries_shapes_at_an_onset_in_seconds_or_messages() -> None:
    # GIVEN a minute of tweets with three shapes, and a phase with parameters and an onset in messages
    tweets, science = parse_mix(
        "tweets:60s|raid@20s|flood@30s|burst@10s,rscience:3000|flood@100/messages=20/rate=5/lines=2"
        "|raid@2s/users=8/spread=2s/channel=3",
        rate=300,
    )
    # THEN each shape starts after the ordinary messages of its onset, with its defaults or parameters
    assert [(s.kind, s.at) for s in tweets.shapes] == [
        (Shape.RAID, 6000),
        (Shape.FLOOD, 9000),
        (Shape.BURST, 3000),
    ]
    assert [s.params for s in tweets.shapes] == [Raid(), Flood(), Burst()]
    assert (tweets.count, tweets.total) == (18_000, 18_000 + 40 + 40 + 60)
    assert [s.params for s in science.shapes] == [
        Flood(messages=20, rate=5, lines=2),
        Raid(users=8, spread=2, channel=3),
    ]
    assert [s.at for s in science.shapes] == [100, 600]  # 2 s at 300 msg/s


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("tweets:600|raid20", "bad shape"),
        ("tweets:600|riot@20", "unknown shape 'riot'.*one of burst, flood, raid"),
        ("tweets:600|ordinary@20", "unknown shape 'ordinary'"),
        ("tweets:600|raid@2s", "starts in seconds: give a rate"),
        ("tweets:600|raid@2.5", "whole number"),
        ("tweets:600|raid@20/size=3", "bad parameter 'size=3'.*users=, spread=, channel="),
        ("tweets:600|raid@20/users", "bad parameter 'users'"),
        ("tweets:600|raid@20/users=many", "'users'.*not a whole number"),
        ("tweets:600|raid@20/users=0", "users must be positive"),
        ("tweets:600|flood@20/channel=-1", "channel must be 0 or more"),
        ("tweets:600|raid@700", "past the phase's 600"),
        ("tweets:600|flood@500", r"13\.0 s at 300 msg/s\), past the phase's 600"),
    ],
)
def test_a_bad_shape_is_rejected_with_a_reason(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as err:
        parse_mix(spec)
    assert "mix phase" in str(err.value)


def _text(record: OutgoingRecord) -> str:
    return ChatMessage.model_validate_json(record.data).text


def _user(record: OutgoingRecord) -> str:
    return ChatMessage.model_validate_json(record.data).user_id


def _shaped(records: list[OutgoingRecord], shape: Shape) -> list[tuple[int, OutgoingRecord]]:
    """The records of one shape, each with the number of ordinary records before it."""
    out, ordinary = [], 0
    for record in records:
        assert record.truth is not None
        if record.truth.shape == Shape.ORDINARY:
            ordinary += 1
        elif record.truth.shape == shape:
            out.append((ordinary, record))
    return out


@pytest.fixture(scope="module")
def shaped() -> list[OutgoingRecord]:
    """40 s of chat at 10 msg/s with a burst after 10 s, a raid after 20 s and a flood after 50 messages."""
    phases = parse_mix("rscience=0.5+tweets=0.5:40s|burst@10s|raid@20s|flood@50", rate=10)
    return list(Replay(MANY_LINES, channels=4, users=5_000, seed=4).records(phases))


MANY_LINES = {c: [*pool, *(chat_line(f"{c} says {i}", c) for i in range(50))] for c, pool in POOLS.items()}


def test_shapes_go_out_at_their_onset_among_the_ordinary_messages(shaped: list[OutgoingRecord]) -> None:
    # THEN each shape starts after its onset's ordinary messages and spans its seconds at the phase's rate
    burst, raid, flood = (_shaped(shaped, s) for s in (Shape.BURST, Shape.RAID, Shape.FLOOD))
    assert burst[0][0] >= 100
    assert burst[-1][0] <= 150
    assert raid[0][0] == 200
    assert 270 <= raid[-1][0] <= 300
    assert [at for at, _ in flood] == [50 + round(k * 10 / 3) for k in range(40)]  # 3 msg/s
    assert len(shaped) == 400 + 60 + 40 + 40


def test_every_message_tells_its_shape_in_the_ground_truth(shaped: list[OutgoingRecord]) -> None:
    kinds = Counter((r.truth.shape, r.truth.shape_id is None) for r in shaped if r.truth)
    assert kinds == {("ordinary", True): 400, ("burst", False): 60, ("raid", False): 40, ("flood", False): 40}
    ids = {r.truth.shape: {r.truth.shape_id} for r in shaped if r.truth and r.truth.shape_id}
    assert all(len(v) == 1 and next(iter(v)).startswith(k) for k, v in ids.items())


def test_a_raid_is_new_accounts_pasting_edited_spam(shaped: list[OutgoingRecord]) -> None:
    raid = [r for _, r in _shaped(shaped, Shape.RAID)]
    ordinary_users = {_user(r) for r in shaped if r.truth and r.truth.shape == Shape.ORDINARY}
    raiders = [_user(r) for r in raid]
    # THEN 40 accounts, each posting once, none of them ever seen in the chat, all in one channel
    assert len(set(raiders)) == 40
    assert not set(raiders) & ordinary_users
    assert all(u.startswith("raider-") for u in raiders)
    assert len({r.partition_key for r in raid}) == 1
    # AND each pastes the same spam with edits: no copy is the original text
    assert all(_text(r) not in RAID_COPYPASTA for r in raid)
    assert all(r.truth and r.truth.label == "remove" and r.truth.categories["spam"] == 1 for r in raid)


def test_a_second_raid_brings_other_new_accounts() -> None:
    phases = parse_mix("rscience:200|raid@10/users=5|raid@100/users=5", rate=10)
    raid = [r for _, r in _shaped(list(Replay(POOLS, seed=6).records(phases)), Shape.RAID)]
    assert len({_user(r) for r in raid}) == 10
    assert len({r.truth.shape_id for r in raid if r.truth}) == 2


def test_a_raid_pastes_a_spam_text_with_a_link_when_spam_is_loaded() -> None:
    link = chat_line("get free followers at www.followz4u.com today", Community.SPAM, 1)
    pools = {
        **POOLS,
        Community.SPAM: [chat_line("no link here, just spam", Community.SPAM, 1), link],
    }
    phases = parse_mix("rscience:200|raid@10/users=10", rate=10)
    raid = [r for _, r in _shaped(list(Replay(pools, seed=7).records(phases)), Shape.RAID)]
    assert all("followz4u.com" in _text(r).casefold() and _text(r) != link.text for r in raid)


def test_a_flood_is_one_user_repeating_a_few_real_lines_with_their_labels(
    shaped: list[OutgoingRecord],
) -> None:
    flood = [r for _, r in _shaped(shaped, Shape.FLOOD)]
    labels = {t.text: label_of(t.removal()) for pool in MANY_LINES.values() for t in pool}
    assert len({_user(r) for r in flood}) == 1
    assert len({r.partition_key for r in flood}) == 1
    assert [_text(r) for r in flood] == [_text(r) for r in flood[:3]] * 13 + [_text(flood[0])]
    assert len({_text(r) for r in flood}) == 3
    assert all(r.truth and r.truth.label == labels[_text(r)] for r in flood)


def test_a_flood_of_new_lines_at_its_own_rate_posts_a_new_text_every_time() -> None:
    # GIVEN a flood of 20 messages at 5 msg/s, every one a new line, in chat at 10 msg/s
    phases = parse_mix("tweets:200|flood@10/messages=20/lines=20/rate=5", rate=10)
    flood = _shaped(list(Replay(MANY_LINES, seed=5).records(phases)), Shape.FLOOD)
    # THEN one goes out every 2 ordinary messages, each with a text of its own
    assert [at for at, _ in flood] == [10 + 2 * k for k in range(20)]
    assert len({_text(r) for _, r in flood}) == 20


def test_a_burst_is_many_regulars_of_a_channel_cheering(shaped: list[OutgoingRecord]) -> None:
    burst = [r for _, r in _shaped(shaped, Shape.BURST)]
    assert len({_user(r) for r in burst}) == 60
    assert all(_user(r).startswith("user-") for r in burst)
    assert len({r.partition_key for r in burst}) == 1
    assert all(_text(r) in (*CHEERS, *LONG_CHEERS) and r.truth and r.truth.label == "allow" for r in burst)


def test_a_shape_in_a_channel_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="no channel 9: there are 8"):
        list(Replay(POOLS, seed=8).records(parse_mix("rscience:200|raid@10/channel=9", rate=10)))


def test_ordinary_users_post_mostly_in_their_home_channel() -> None:
    # GIVEN ordinary traffic from 2,000 users in 8 channels
    records = list(Replay(POOLS, channels=8, users=2_000, seed=9).records(parse_mix("rscience:6000")))
    channels: dict[str, Counter[str]] = {}
    for r in records:
        channels.setdefault(_user(r), Counter())[r.partition_key] += 1
    # THEN users who post 5 or more messages post most of them in one channel (a uniform draw: ~0.4)
    regulars = [c for c in channels.values() if c.total() >= 5]
    assert sum(max(c.values()) for c in regulars) / sum(c.total() for c in regulars) >= 0.7


def test_repeat_offenders_post_their_share_of_the_harmful_texts_and_none_of_the_rest_in_every_phase() -> None:
    def authors(seed: int) -> list[tuple[str, str, str]]:
        replay = Replay(POOLS, channels=4, users=500, seed=seed, offenders=5, offender_share=0.5)
        out: list[tuple[str, str, str]] = []
        for record in replay.records(parse_mix("rscience:2000")):
            msg = ChatMessage.model_validate_json(record.data)
            assert record.truth is not None
            out.append((record.truth.label, msg.user_id, msg.channel_id))
        return out

    first = authors(seed=1)
    harmful = [(u, c) for label, u, c in first if label == "remove"]
    by_offenders = [(u, c) for u, c in harmful if u.startswith("offender-")]
    assert 0.4 < len(by_offenders) / len(harmful) < 0.6
    assert not any(u.startswith("offender-") for label, u, _ in first if label == "allow")
    assert {u for u, _ in by_offenders} == {f"offender-{n:03d}" for n in range(5)}
    assert len(set(by_offenders)) == 5  # each offender in one home channel
    # the same accounts in another phase (another seed): strikes carry over
    again = {u for label, u, _ in authors(seed=2) if u.startswith("offender-")}
    assert again == {u for u, _ in by_offenders}
