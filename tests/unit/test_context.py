"""Context across messages: the signals, their bounded state, and the consumer carrying it through the
tumbling window (partial failures included)."""

import random
import string
import zlib
from base64 import b64encode
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.policy import ChannelPolicy, ContextPolicy, PolicyBook, RaidRule
from contracts.verdict import Action, ContextSignal
from local_esm.esm import StreamRecord, Window, WindowInvoke, lambda_event, roundtrip
from stream_consumer.consumer import Consumer
from stream_consumer.context import (
    Budget,
    ContextKey,
    Counted,
    WindowContext,
    _Table,
    context_key,
    established,
    fired,
    near_duplicate_bands,
    observe,
    raised,
)
from stream_consumer.moderation import Champion
from stream_consumer.normalize import normal_form
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink
from tests.builders import message
from tests.fakes import KeywordScorer

POLICY = ContextPolicy()
RAID = "Free nitro for everyone who joins right now, claim yours at discord-gift.example before it ends"


def edits(text: str, rng: random.Random) -> str:
    """A raider's small edits: case, punctuation, a number or emoji, a look-alike letter, a dropped word."""
    kind = rng.randrange(5)
    if kind == 0:
        return text.upper()
    if kind == 1:
        return text + "!!! " + str(rng.randrange(1000))
    if kind == 2:
        return text.replace("a", "\u0430", 2) + " 🎁"  # Cyrillic a
    if kind == 3:
        words = text.split()
        del words[rng.randrange(len(words))]
        return " ".join(words)
    return text.replace(" ", " \u200b", 3)


def junk(rng: random.Random) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(6))


def bands(text: str) -> tuple[int, ...]:
    return near_duplicate_bands([text], [POLICY.raid.min_letters])[0]


def count(
    context: WindowContext, channel: str, user: str, text: str, flagged: bool = False
) -> dict[str, float]:
    normal = normal_form(text).text
    (made,) = near_duplicate_bands([normal], [POLICY.raid.min_letters], context.key)
    return context.add(observe(channel, user, normal, made, flagged))


# --- the signals ---------------------------------------------------------------------------------


def test_small_edits_keep_a_text_near_duplicate_and_different_texts_apart() -> None:
    rng = random.Random(1)
    base = set(bands(normal_form(RAID).text))
    shared = [bool(base & set(bands(normal_form(edits(RAID, rng)).text))) for _ in range(200)]
    assert sum(shared) / len(shared) >= 0.97
    others = [set(bands(junk(rng))) for _ in range(500)]
    assert sum(bool(base & o) for o in others) == 0
    assert bands("gg wp 🔥🔥") == ()  # too short to be a raid
    # a batch at once is each text alone
    texts = [normal_form(RAID).text, "gg", junk(rng), normal_form(edits(RAID, rng)).text]
    assert near_duplicate_bands(texts, [16] * 4) == [bands(t) for t in texts]


def test_a_raid_fires_after_the_channels_threshold_of_users_and_only_in_its_channel() -> None:
    context, rng = WindowContext(), random.Random(2)
    values = [count(context, "channel-01", f"raider-{i}", edits(RAID, rng))["raid"] for i in range(20)]
    assert values[:4] == [0, 2, 3, 4]  # the text's first poster is never given its raid
    assert sum(v >= POLICY.raid.threshold for v in values[4:]) >= 15
    # another channel's count is its own: its first poster there, then one more
    assert count(context, "channel-02", "someone", RAID)["raid"] == 0
    assert count(context, "channel-02", "another", RAID)["raid"] == 2
    # one user pasting the same text again and again is a flood, not a raid
    solo = [count(context, "channel-03", "pasta", RAID)["raid"] for _ in range(20)]
    assert max(solo) == 0


def test_a_flood_links_and_mentions_count_per_user_in_the_channel() -> None:
    context = WindowContext()
    values = {}
    for i in range(12):
        values = count(context, "channel-01", "flooder", f"buy now at shop{i}.xyz @alice @bob @carol")
    assert (values["flood"], values["links"], values["mentions"]) == (12, 12, 36)
    assert count(context, "channel-02", "flooder", "hello there")["flood"] == 1
    names = [s.signal for s in fired(values, POLICY)]
    assert names == ["flood", "links", "mentions"]


def test_look_alike_letters_and_invisible_characters_do_not_hide_links_or_mentions() -> None:
    context = WindowContext()
    for i in range(6):  # Cyrillic і, о, а and a zero-width space inside the domain and the names
        values = count(context, "channel-01", "spammer", f"claim at dі\u200bscоrd{i}.gg now @аlice @bоb")
    assert (values["links"], values["mentions"]) == (6, 12)
    assert "links" in [s.signal for s in fired(values, POLICY)]


def test_heat_is_the_channels_flagged_share_once_it_has_enough_messages() -> None:
    context = WindowContext()
    for i in range(40):
        values = count(context, "channel-01", f"u{i}", junk(random.Random(i)), flagged=i % 4 != 0)
    assert values["heat"] == 0.75
    assert values["channel_messages"] == 40
    (heat,) = fired(values, POLICY)
    assert heat.signal == "heat"
    assert heat.action is Action.ALLOW  # reported, no action by default


def test_a_raid_is_caught_while_thousands_of_one_message_users_flood_the_state() -> None:
    # GIVEN small budgets, a raid of 40 users and a flooder, drowned in 6,000 one-message users
    budget = Budget(users=512, texts=4096, channels=16)
    context, rng = WindowContext(budget), random.Random(3)
    raid_values, flood_values = [], []
    for i in range(6000):
        count(context, "channel-01", f"sock-{i}", junk(rng))
        if i % 150 == 0:
            raid_values.append(count(context, "channel-01", f"raider-{i}", edits(RAID, rng))["raid"])
        if i % 100 == 0:
            flood_values.append(count(context, "channel-01", "flooder", junk(rng))["flood"])
    # THEN the state stayed within its budget, and the raid and the flood were still caught
    assert len(context.users.rows) <= budget.users
    assert len(context.texts.rows) <= budget.texts
    after_five = raid_values[5:]
    assert sum(v >= POLICY.raid.threshold for v in after_five) / len(after_five) >= 0.95
    assert max(flood_values) >= POLICY.flood.threshold
    # AND no one-message user ever fired a signal: eviction never invents a count
    assert count(context, "channel-01", "sock-new", junk(rng))["flood"] == 1


def test_the_state_round_trips_and_stays_small() -> None:
    context, rng = WindowContext(), random.Random(4)
    for i in range(3000):  # 1,000 active users, three messages each
        count(context, f"channel-{i % 8}", f"user-{i % 1000}", junk(rng), flagged=i % 5 == 0)
    context.fired["raid"] += 2
    state = context.encode()
    assert sum(len(k) + len(v) for k, v in state.items()) <= 200_000
    again = WindowContext.decode(state)
    assert again.users.rows == context.users.rows
    assert again.texts.rows == context.texts.rows
    assert again.channels.rows == context.channels.rows
    assert again.fired == context.fired
    assert WindowContext.decode({}).messages == 0
    with pytest.raises(ValueError, match="version"):
        WindowContext.decode({**state, "version": "0"})
    bomb = b64encode(zlib.compress(b"\0" * (64 << 20))).decode()  # 64 MB of zeros in ~64 KB
    with pytest.raises(ValueError, match="inflates past"):
        WindowContext.decode({**state, "context": bomb})


# --- an attacker's pass over the raid signal (40 raiders in one window; caught after the fifth) -----


def caught_after_fifth(values: list[float]) -> float:
    after = values[5:]
    return sum(v >= POLICY.raid.threshold for v in after) / len(after)


def raid_of(texts: list[str], users: list[str], flagged: bool = False) -> list[float]:
    context = WindowContext()
    return [count(context, "channel-01", u, t, flagged)["raid"] for t, u in zip(texts, users, strict=True)]


RAIDERS = [f"raider-{i}" for i in range(40)]


def test_a_raid_that_doubles_one_letter_per_word_is_caught() -> None:
    # each raider doubles a different letter of every word ("niitro foor"): each word differs from the
    # others' (a raid of word sets: 0 of 35 caught); letter runs are collapsed before comparing
    rng = random.Random(5)

    def doubled(word: str) -> str:
        i = rng.randrange(len(word))
        return word[:i] + word[i] + word[i:]

    texts = [" ".join(doubled(w) for w in RAID.split()) for _ in RAIDERS]
    assert caught_after_fifth(raid_of(texts, RAIDERS)) >= 0.9


def test_a_raid_that_adds_one_word_per_raider_is_caught_and_its_bands_depend_on_the_deployments_key() -> None:
    rng = random.Random(6)
    texts = [f"{RAID} {junk(rng).split()[0]}" for _ in RAIDERS]
    assert caught_after_fifth(raid_of(texts, RAIDERS)) >= 0.9
    # the words that would split a raid's bands cannot be searched for offline: another key, other bands
    ours, theirs = context_key("the deployment's secret"), context_key("")
    text = normal_form(RAID).text
    assert not set(near_duplicate_bands([text], [16], ours)[0]) & set(
        near_duplicate_bands([text], [16], theirs)[0]
    )
    assert [ours.fingerprint(u) for u in RAIDERS[:3]] != [theirs.fingerprint(u) for u in RAIDERS[:3]]


def test_raiders_whose_ids_share_a_few_user_bits_are_counted_one_by_one() -> None:
    # 40 accounts chosen so they hash into 4 of a text's 64 user bits: counted by bits, the raid stopped
    # at 4; counted by fingerprint it is exact up to the row's slots
    key = context_key("")
    chosen = [u for u in (f"acct-{i}" for i in range(5000)) if key.user_bit(u) < 4][:40]
    assert len(chosen) == 40
    rng = random.Random(7)
    values = raid_of([edits(RAID, rng) for _ in chosen], chosen)
    assert caught_after_fifth(values) >= 0.9
    assert values[1:8] == [2, 3, 4, 5, 6, 7, 8]


def test_socks_copying_a_victims_post_never_give_the_victim_the_raid() -> None:
    victim = "can someone please help me get my account back, support is not answering at all"
    context = WindowContext()
    assert count(context, "channel-01", "victim", victim)["raid"] == 0
    socks = [count(context, "channel-01", f"sock-{i}", victim)["raid"] for i in range(5)]
    assert socks == [2, 3, 4, 5, 6]
    # the victim asks again: the text is theirs, the crowd that copied it is the raid
    again = count(context, "channel-01", "victim", victim + " please")
    assert again["raid"] == 0
    assert "raid" not in [s.signal for s in fired(again, POLICY)]


CHEER = "happy birthday to our amazing streamer"


def test_sixty_regulars_cheering_one_long_line_are_not_a_raid_and_sixty_new_accounts_are() -> None:
    context = WindowContext()
    normal = normal_form(CHEER).text
    (made,) = near_duplicate_bands([normal], [POLICY.raid.min_letters], context.key)
    regulars = [
        context.add(observe("channel-01", f"regular-{i}", normal, made, False, True)) for i in range(60)
    ]
    assert [v["raid"] for v in regulars] == [0] * 60
    newcomers = [
        context.add(observe("channel-02", f"new-{i}", normal, made, False, False)) for i in range(60)
    ]
    assert sum("raid" in [s.signal for s in fired(v, POLICY)] for v in newcomers) == 56  # from the 5th


@pytest.mark.parametrize(
    ("age_days", "established_days", "regular"),
    [(None, 30, False), (29.99, 30, False), (30.0, 30, True), (400, 30, True), (400, 0, False)],
)
def test_an_account_is_established_from_the_channels_days_at_its_messages_arrival(
    age_days: float | None, established_days: float, regular: bool
) -> None:
    arrived = datetime(2026, 12, 1, tzinfo=UTC)
    created = None if age_days is None else arrived - timedelta(days=age_days)
    assert established(created, arrived, established_days) is regular


def test_the_consumer_gives_no_raid_to_regulars_cheering_and_one_to_new_accounts_pasting() -> None:
    def raided(account_age_days: float | None) -> int:
        verdicts = MemoryVerdictSink()
        consumer = build(verdicts)
        texts = [(f"u{i}", CHEER) for i in range(20)]
        consumer.handle_event(event(texts, {}, account_age_days=account_age_days))
        return sum("raid" in [c.signal for c in m.verdict.context] for m in verdicts.written)

    assert raided(account_age_days=400) == 0
    assert raided(account_age_days=2) == 16
    assert raided(account_age_days=None) == 16  # a platform that does not say: every account is new


def test_junk_texts_flooding_the_state_never_erase_a_raid_in_progress() -> None:
    # three raiders, then thousands of one-message junk texts (the table evicted again and again: new
    # keys inherit the rising floor), then the rest of the raid: it goes on from where it was
    budget = Budget(users=4096, texts=256, channels=16)
    context, rng = WindowContext(budget), random.Random(9)
    values = [count(context, "channel-01", f"raider-{i}", edits(RAID, rng))["raid"] for i in range(3)]
    for i in range(3000):
        count(context, "channel-01", f"junk-{i}", junk(rng))
    assert context.texts.floor > 3  # the junk keys' inherited error now tops the raid's own count
    values += [count(context, "channel-01", f"raider-{i}", edits(RAID, rng))["raid"] for i in range(3, 10)]
    assert values == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]


# --- through the consumer ------------------------------------------------------------------------

POLICIES = PolicyBook(
    default=ChannelPolicy(),
    channels={"raided": ChannelPolicy(context=ContextPolicy(raid=RaidRule(action="remove")))},
)
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"
START = 1_800_000_000.0


def build(verdicts: MemoryVerdictSink) -> Consumer:
    model = Champion("chat-moderation", "7", KeywordScorer())
    return Consumer(
        ConsumerSettings(),
        lambda: model,
        lambda: POLICIES,
        verdicts,
        MemoryDeadLetterSink(),
        MemoryArchiveSink(),
    )


def event(
    texts: list[tuple[str, str]],
    state: dict[str, Any],
    channels: list[str] | None = None,
    final: bool = False,
    account_age_days: float | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    channels = channels or ["raided"] * len(texts)
    extra = (
        {}
        if account_age_days is None
        else {"account_created_at": (datetime.now(UTC) - timedelta(days=account_age_days)).isoformat()}
    )
    records = [
        StreamRecord(f"{next(_SEQ)}", channel, message(text, channel=channel, user_id=user, **extra), now)
        for (user, text), channel in zip(texts, channels, strict=True)
    ]
    window = WindowInvoke(Window(START, START + 30, state), final=final)
    return roundtrip(lambda_event("shardId-000000000000", ARN, "us-east-1", records, window))


_SEQ = iter(range(10**20, 10**21))


def test_the_consumer_carries_the_window_state_and_a_channel_may_remove_raids() -> None:
    verdicts = MemoryVerdictSink()
    consumer, rng = build(verdicts), random.Random(5)
    state: dict[str, Any] = {}
    for batch in range(4):  # four invocations of five raiders each
        response = consumer.handle_event(
            event([(f"r{batch}-{i}", edits(RAID, rng)) for i in range(5)], state)
        )
        assert response["batchItemFailures"] == []
        state = response["state"]
    actions = [m.verdict.action for m in verdicts.written]
    assert actions[:4] == [Action.ALLOW] * 4
    assert sum(a is Action.REMOVE for a in actions[5:]) >= 14  # the channel chose remove
    last = verdicts.written[-1].verdict
    assert [s.signal for s in last.context] == ["raid"]
    assert last.context[0].threshold == 5
    assert "context:raid" in last.reasons
    final = consumer.handle_event(event([], state, final=True))
    assert final == {"batchItemFailures": [], "state": {}}


def test_a_record_retried_after_a_partial_failure_is_counted_once() -> None:
    # GIVEN a batch of 4 messages whose third verdict the output stream refuses (a throttled stream)
    verdicts = MemoryVerdictSink(fail_channels=frozenset({"throttled"}))
    consumer = build(verdicts)
    texts = [("a", "first message"), ("b", "second message"), ("c", "third message"), ("d", "fourth one")]
    batch = event(texts, {}, channels=["ok", "ok", "throttled", "ok"])
    response = consumer.handle_event(batch)
    third = batch["Records"][2]["kinesis"]["sequenceNumber"]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [third]
    # THEN the returned state counts only the messages before the failure (the rest comes again)
    assert WindowContext.decode(response["state"]).messages == 2
    # WHEN the mapping retries from the third record with that state, and the stream takes it now
    verdicts.fail_channels = frozenset()
    retry = dict(batch, Records=batch["Records"][2:], state=response["state"])
    again = consumer.handle_event(retry)
    # THEN every message is counted exactly once
    assert again["batchItemFailures"] == []
    assert WindowContext.decode(again["state"]).messages == 4


def test_a_batch_that_fails_as_a_whole_returns_the_state_it_was_given() -> None:
    verdicts = MemoryVerdictSink(fail_channels=frozenset({"throttled"}))
    given = build(MemoryVerdictSink()).handle_event(event([("a", "hello")], {}))["state"]
    response = build(verdicts).handle_event(event([("b", "hi there")], given, channels=["throttled"]))
    assert len(response["batchItemFailures"]) == 1
    assert response["state"] == given


def test_the_consumer_counts_links_in_the_normal_form() -> None:
    verdicts = MemoryVerdictSink()
    texts = [("spammer", f"claim at dі\u200bscоrd{i}.gg now") for i in range(6)]  # look-alikes, ZWSP
    build(verdicts).handle_event(event(texts, {}))
    assert [s.signal for s in verdicts.written[-1].verdict.context] == ["links"]


def test_an_unreadable_state_starts_a_fresh_window_and_is_reported() -> None:
    verdicts = MemoryVerdictSink()
    response = build(verdicts).handle_event(event([("u", RAID)], {"context": "not base64!", "version": "1"}))
    assert response["batchItemFailures"] == []
    assert WindowContext.decode(response["state"]).messages == 1


def test_a_signal_raises_an_action_and_never_lowers_it() -> None:
    def signal(action: Action) -> ContextSignal:
        return ContextSignal(signal="raid", value=9, threshold=5, action=action)

    assert raised(Action.REVIEW, [signal(Action.REMOVE)]) is Action.REMOVE
    assert raised(Action.ALLOW, [signal(Action.REVIEW)]) is Action.REVIEW
    assert raised(Action.REMOVE, [signal(Action.REVIEW), signal(Action.ALLOW)]) is Action.REMOVE
    assert raised(Action.REVIEW, [signal(Action.ALLOW)]) is Action.REVIEW
    assert raised(Action.ALLOW, []) is Action.ALLOW


def test_only_messages_with_a_link_count_towards_the_links_signal() -> None:
    context = WindowContext()
    for i in range(5):
        count(context, "channel-01", "talker", f"just chatting, message {i}")
    values = count(context, "channel-01", "talker", "see shop.xyz")
    assert (values["flood"], values["links"]) == (6, 1)


# --- the key, the state's edges and the signals' edges (survivors of `make mutation`) --------------

PASTE = "free nitro for everyone who joins right now"


def test_a_secrets_key_is_the_same_in_every_process_and_version() -> None:
    # GIVEN a deployment's secret, its key drawn afresh (not the per-process cached one)
    key = ContextKey(b"a deployment secret")
    # THEN its near-duplicate keys and a user's fingerprint are these, whatever process draws them: a
    # window's state carries them across invocations and deployments, so a change would split a raid
    assert near_duplicate_bands([PASTE], [16], key)[0] == (
        6417655117549819021,
        11831625103925561064,
        14630965670839288615,
        10785174113256090932,
        5731213097394625698,
        13454622817507237177,
        9697578833754446158,
        15298354778341086389,
        13739927697726736270,
        9861292044971450527,
    )
    assert (key.fingerprint("user-1"), key.user_bit("user-1")) == (3714289535, 19)
    # AND the empty secret draws the built-in key
    assert near_duplicate_bands([PASTE], [16], ContextKey(b""))[0] == near_duplicate_bands([PASTE], [16])[0]


def test_heat_fires_at_its_threshold_once_the_channel_has_its_minimum_of_messages() -> None:
    heat = POLICY.heat
    base = {"flood": 0.0, "links": 0.0, "mentions": 0.0, "raid": 0.0}
    at_both = fired(base | {"heat": heat.threshold, "channel_messages": heat.min_messages}, POLICY)
    assert [s.signal for s in at_both] == ["heat"]
    assert fired(base | {"heat": heat.threshold - 1e-9, "channel_messages": heat.min_messages}, POLICY) == []
    assert fired(base | {"heat": 1.0, "channel_messages": heat.min_messages - 1}, POLICY) == []
    (two_thirds,) = fired(base | {"heat": 2 / 3, "channel_messages": 90}, POLICY)
    assert two_thirds.value == 0.6667


def test_an_account_older_than_a_fraction_of_a_day_setting_is_established() -> None:
    sent = datetime(2026, 12, 1, tzinfo=UTC)
    assert established(sent - timedelta(hours=13), sent, 0.5)
    assert not established(sent - timedelta(hours=11), sent, 0.5)


def test_a_decoded_window_keeps_the_key_it_is_given_and_a_stateless_one_is_fresh() -> None:
    key = ContextKey(b"another secret")
    state = WindowContext(key=key).encode()
    assert WindowContext.decode(state, key=key).key is key
    assert WindowContext.decode(state).key is context_key("")
    assert WindowContext.decode({"version": "9", "fired": "raid=1"}).fired == Counter()


def test_a_state_names_the_version_it_has_and_refuses_characters_outside_base64() -> None:
    state = WindowContext().encode()
    with pytest.raises(ValueError, match=r"^window state version '0' is not \d+$"):
        WindowContext.decode({**state, "version": "0"})
    packed = state["context"]
    with pytest.raises(ValueError, match=r"Non-base64|Only base64|Invalid"):
        WindowContext.decode({**state, "context": f"{packed[:4]}*{packed[4:]}"})


def test_every_fired_signal_survives_the_state_and_a_recount() -> None:
    context = WindowContext()
    context.fired.update({"flood": 2, "raid": 1})
    context.dirty = True
    state = context.encode()
    assert not context.dirty
    assert WindowContext.decode(state).fired == Counter({"flood": 2, "raid": 1})
    assert WindowContext.decode({k: v for k, v in state.items() if k != "fired"}).fired == Counter()
    # AND messages counted again as they were counted bring their signals back
    counted = Counted("1", observe("c", "u", "hello", (), False), ("flood", "links"))
    again = WindowContext()
    again.recount([counted, counted])
    assert again.fired == Counter({"flood": 2, "links": 2})
    assert again.messages == 2


def test_a_table_of_exactly_its_budget_of_keys_and_its_floor_survive_the_state() -> None:
    budget = Budget(users=4, texts=4, channels=4)
    context = WindowContext(budget)
    for k in range(4):
        context.add(observe(f"c{k}", f"u{k}", "hello", (), k % 2 == 0))
    context.users.floor = 7
    again = WindowContext.decode(context.encode(), budget)
    assert len(again.users.rows) == 4
    assert again.users.rows == context.users.rows
    assert again.users.floor == 7
    # AND a state holding more keys than the budget is refused, naming both
    with pytest.raises(ValueError, match=r"^4 keys over the budget of 3$"):
        WindowContext.decode(context.encode(), Budget(users=3, texts=4, channels=4))


def test_a_truncated_table_is_refused() -> None:
    context = WindowContext(Budget(users=4, texts=4, channels=4))
    context.add(observe("c", "u", "hello", (), False))
    table = context.users.pack()
    with pytest.raises(ValueError, match=r"^truncated table$"):
        _Table.unpack(memoryview(table[:-4]), 4, "IIII")  # one 32-bit value short
