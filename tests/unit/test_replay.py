"""The simulator builds real, schema-valid chat messages and the poison kinds it promises."""

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.chat import ChatMessage
from producer_sim.replay import MalformedKind, OutgoingRecord, Replay, parse_mix
from runtime.kinesis import MAX_BYTES_PER_PUT, MAX_RECORDS_PER_PUT, batches, split_results
from training.data import Community, LabelledText, load_davidson, load_rscience

POOLS = {
    Community.RSCIENCE: [
        LabelledText(
            "The effect size is small and the sample is not representative.", "allow", Community.RSCIENCE
        ),
        LabelledText("lol", "remove", Community.RSCIENCE),
    ],
    Community.TWEETS: [LabelledText("RT @someone: you are all idiots", "remove", Community.TWEETS)],
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


def test_data_sets_load_with_labels(data_dir: Path) -> None:
    science, tweets = load_rscience(data_dir), load_davidson(data_dir)
    assert len(science) > 5_000
    assert 0.25 < sum(t.y for t in science) / len(science) < 0.4
    assert len(tweets) > 20_000
    assert sum(t.y for t in tweets) / len(tweets) > 0.8
