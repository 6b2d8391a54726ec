"""The simulated chat looks like chat: heavy-tailed users who keep a human pace and stay mostly in their
home channel, channels of unequal and bursty popularity, and raids whose copies differ a little."""

import random
import re
import unicodedata
from collections import Counter, defaultdict
from functools import cache

import pytest

from contracts.categories import Category
from producer_sim.activity import (
    CHEERS,
    EDITS,
    HOMOGLYPHS,
    LINK,
    LONG_CHEERS,
    RAID_COPYPASTA,
    ZERO_WIDTH,
    Activity,
    Burst,
    Edit,
    Raid,
    Speaker,
    plan_burst,
    plan_raid,
)
from producer_sim.communities import Community
from tests.builders import chat_line

RATE = 300.0  # messages per second, the demo's
MESSAGES = 30_000  # 100 s of chat
USERS = 20_000  # 300 msg/s at no more than 6 per user in 30 s takes thousands of users
CHANNELS = 8


@cache
def chat(seed: int = 1) -> tuple[tuple[float, Speaker], ...]:
    """100 s of ordinary chat at 300 msg/s: (seconds, speaker) per message."""
    activity = Activity(CHANNELS, USERS, random.Random(seed))
    return tuple((i / RATE, activity.speaker(i / RATE)) for i in range(MESSAGES))


def most_in_any_window(times: list[float], seconds: float) -> int:
    """The most messages of one sorted list of times that fall within any `seconds`-long window."""
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_users_are_heavy_tailed_but_none_posts_faster_than_a_person() -> None:
    # GIVEN 100 s of chat at 300 msg/s from 20,000 users
    times: dict[str, list[float]] = defaultdict(list)
    for t, speaker in chat():
        times[speaker.user].append(t)
    # WHEN each user's busiest 30 s and the top 1% of users' share are measured
    busiest = max(most_in_any_window(ts, 30.0) for ts in times.values())
    counts = sorted((len(ts) for ts in times.values()), reverse=True)
    top_share = sum(counts[: USERS // 100]) / MESSAGES
    # THEN no user posts more than 6 messages in any 30 s (measured: 6; without the ceiling: 2,360)
    assert busiest <= 6
    # AND the top 1% write more than a tenth of the chat (measured: 11.2%; uniform users: 3.5%)
    assert top_share >= 0.10
    # AND most users are occasional: over half of those who spoke did so once or twice
    assert sum(c <= 2 for c in counts) > len(counts) / 2


def test_users_post_mostly_in_their_home_channel() -> None:
    # GIVEN the channels each user posted in
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    for _, speaker in chat():
        channels[speaker.user][speaker.channel] += 1
    # WHEN the share of their messages in their busiest channel is taken over users with 5 or more
    regulars = [c for c in channels.values() if c.total() >= 5]
    home = sum(max(c.values()) for c in regulars) / sum(c.total() for c in regulars)
    # THEN it is most of them (measured: 0.88; a channel drawn apart from the user: 0.49)
    assert len(regulars) > 500
    assert home >= 0.75


def test_channels_differ_in_popularity_and_have_hot_spells() -> None:
    # GIVEN each channel's messages, overall and in 10-s windows
    overall: Counter[str] = Counter()
    windows: dict[int, Counter[str]] = defaultdict(Counter)
    for t, speaker in chat():
        overall[speaker.channel] += 1
        windows[int(t // 10)][speaker.channel] += 1
    # THEN the busiest channel carries several times the quietest's (measured: 5.2x; equal channels: 1.7x)
    assert len(overall) == CHANNELS
    assert max(overall.values()) >= 3 * min(overall.values())
    # AND some channel, for a while, draws well over its usual share (measured: 2.6x; no hot spells: 1.1x)
    surge = max((w[c] / w.total()) / (overall[c] / MESSAGES) for w in windows.values() for c in overall)
    assert surge >= 1.6


def test_a_seed_gives_the_same_chat() -> None:
    again = Activity(CHANNELS, USERS, random.Random(1))
    assert [again.speaker(i / RATE) for i in range(500)] == [s for _, s in chat()[:500]]


def test_too_few_users_for_the_rate_still_yields_a_speaker_for_every_message() -> None:
    # GIVEN 10 users at 300 msg/s: the ceiling cannot hold
    activity = Activity(3, 10, random.Random(2))
    # WHEN 3,000 messages are drawn THEN each has a known user and channel, and every user speaks
    speakers = [activity.speaker(i / RATE) for i in range(3_000)]
    assert {s.user for s in speakers} == set(activity.users)
    assert {s.channel for s in speakers} <= set(activity.channels)


def test_a_burst_is_the_channel_s_own_regulars_cheering_within_seconds() -> None:
    # GIVEN a burst in channel-02, and 400 s of ordinary chat
    activity = Activity(CHANNELS, 2_000, random.Random(10))
    planned = plan_burst(Burst(channel=2), activity, random.Random(11), Community.TWEETS)
    cheerers = {p.speaker.user for p in planned}
    theirs = [s.channel for s in (activity.speaker(i / 50) for i in range(20_000)) if s.user in cheerers]
    # THEN 60 users cheer once each in channel-02 within 5 s, harmlessly
    assert len(cheerers) == 60
    assert {p.speaker.channel for p in planned} == {"channel-02"}
    assert all(0 <= p.offset <= 5 for p in planned)
    assert all(
        p.item.text in (*CHEERS, *LONG_CHEERS) and p.item.labels == {Category.REMOVAL: 0} for p in planned
    )
    assert len({p.item.text for p in planned if p.item.text in LONG_CHEERS}) == 1  # one long cheer, together
    # AND they are its regulars: they post mostly there (measured: 0.87; any 60 users: 0.08)
    assert theirs.count("channel-02") / len(theirs) >= 0.7


# --- raids ---------------------------------------------------------------------------------------

_FOLD = {cyrillic: latin for latin, cyrillic in HOMOGLYPHS.items()}
_BASE = RAID_COPYPASTA[0]


def _skeleton(text: str) -> list[str]:
    """The words of a text with the edits undone as a raid detector might: look-alikes folded, zero-width
    characters dropped, case, punctuation, numbers and emoji ignored."""
    text = "".join(_FOLD.get(ch, ch) for ch in text if ch not in ZERO_WIDTH).casefold()
    return [w for w in re.sub(r"[^\w\s./:-]|\d", " ", text).split() if w.strip(".!?")]


def _near(text: str, base: str) -> bool:
    words, original = _skeleton(text), _skeleton(base)
    return len(set(words) & set(original)) >= len(set(original)) - 2


@pytest.mark.parametrize("edit", list(Edit))
def test_each_edit_changes_the_text_a_little_and_keeps_its_link(edit: Edit) -> None:
    rng = random.Random(3)
    for base in RAID_COPYPASTA:
        edited = EDITS[edit](base, rng)
        assert edited != base
        assert _near(edited, base)
        link = next(w for w in base.split() if LINK.search(w))
        assert link.casefold() in edited.casefold()


def test_edits_hide_the_copy_with_look_alikes_and_invisible_characters() -> None:
    rng = random.Random(4)
    homoglyph, hidden = EDITS[Edit.HOMOGLYPH](_BASE, rng), EDITS[Edit.ZERO_WIDTH](_BASE, rng)
    # THEN one Latin letter became Cyrillic, and one invisible character went in, while it reads the same
    assert sum(unicodedata.name(ch).startswith("CYRILLIC") for ch in homoglyph) == 1
    assert sum(ch in ZERO_WIDTH for ch in hidden) == 1
    assert "".join(_FOLD.get(ch, ch) for ch in homoglyph) == _BASE
    assert "".join(ch for ch in hidden if ch not in ZERO_WIDTH) == _BASE


def test_a_raid_is_new_accounts_pasting_one_text_each_copy_edited() -> None:
    # GIVEN a raid of 40 new accounts on a copypasta
    activity = Activity(CHANNELS, 2_000, random.Random(5))
    raiders = [f"raider-{n}" for n in range(40)]
    planned = plan_raid(Raid(), activity, random.Random(6), raiders, None)
    texts = [p.item.text for p in planned]
    base = next(b for b in RAID_COPYPASTA if _near(texts[0], b))
    # THEN each account posts once, all in one channel, within the raid's 10 s
    assert [p.speaker.user for p in planned] == raiders
    assert len({p.speaker.channel for p in planned}) == 1
    assert planned[0].offset == 0
    assert 7 <= planned[-1].offset <= 10
    # AND every copy is the same text, edited: none is the original, few are alike
    assert all(_near(t, base) and t != base for t in texts)
    assert len(set(texts)) >= 30
    # AND every copy is spam
    assert all(p.item.labels == {Category.REMOVAL: 1, Category.SPAM: 1} for p in planned)
    assert {p.item.source for p in planned} == {Community.SPAM}


def test_a_raid_on_a_spam_text_keeps_its_labels_and_adds_spam() -> None:
    base = chat_line("win a free phone at www.prizes4u.com now ", Community.SPAM, 1, hate=0)
    planned = plan_raid(
        Raid(users=5), Activity(2, 50, random.Random(7)), random.Random(8), list("abcde"), base
    )
    assert all(_near(p.item.text, base.text) and p.item.text != base.text.strip() for p in planned)
    assert all(p.item.labels == {Category.HATE: 0, Category.SPAM: 1, Category.REMOVAL: 1} for p in planned)
