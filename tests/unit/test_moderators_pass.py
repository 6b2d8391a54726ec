"""Which channels a pass of the simulated moderators lists: the counters first, a listing where they show
work, every channel now and then."""

from producer_sim.moderators import Listing, to_list


def _counts(channel: str, open_: int, appealed: int = 0) -> dict[str, object]:
    return {
        "channel_id": channel,
        "open": open_,
        "decided": 3,
        "expired": 0,
        "hidden": 0,
        "appealed": appealed,
    }


COUNTS = [_counts("c-a", 2), _counts("c-b", 0, appealed=1), _counts("c-c", 0)]


def test_a_pass_lists_only_what_the_counters_show_waiting() -> None:
    assert to_list(COUNTS, ["c-a", "c-b", "c-c"], appeals=False, full=False) == [Listing("c-a", True, False)]
    assert to_list(COUNTS, ["c-a", "c-b", "c-c"], appeals=True, full=False) == [
        Listing("c-a", True, False),
        Listing("c-b", False, True),
    ]


def test_a_full_pass_lists_every_channel_and_a_channel_without_counters_is_listed() -> None:
    assert to_list(COUNTS, ["c-a", "c-c"], appeals=True, full=True) == [
        Listing("c-a", True, True),
        Listing("c-c", True, True),
    ]
    assert to_list(COUNTS, ["c-new"], appeals=False, full=False) == [Listing("c-new", True, False)]
    assert to_list([], ["c-a"], appeals=False, full=True) == [Listing("c-a", True, False)]
