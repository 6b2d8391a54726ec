"""The simulator's communities: the labelled texts each chat community's traffic is drawn from."""

from enum import StrEnum
from pathlib import Path

from contracts.categories import Category
from training.corpora import Example, Source, load_all


class Community(StrEnum):
    """Where a simulated chat line comes from: the training community and the ones the chat drifts to."""

    RSCIENCE = "rscience"
    TWEETS = "tweets"
    SPAM = "spam"  # promotion and scams posted into a chat channel (the spam sets' spam messages)
    GERMAN = "german"  # a German-speaking channel (GermEval 2018's tweets; its moderators remove offense)


_SETS: dict[Community, tuple[list[Source], Category]] = {
    Community.RSCIENCE: ([Source.RSCIENCE], Category.REMOVAL),
    Community.TWEETS: ([Source.DAVIDSON], Category.TOXICITY),
    Community.SPAM: ([Source.YOUTUBE, Source.SMS], Category.SPAM),
    Community.GERMAN: ([Source.GERMEVAL], Category.TOXICITY),
}


def load_community(data_dir: Path, community: Community) -> list[Example]:
    """The labelled texts of one community, as `training.corpora` reads their sets, with every category
    the set labels; the source is the community, and `removal` is what its moderators remove: r/science
    its own removals, the tweets' channel offensive or hateful tweets, a chat channel the spam posted
    into it (the spam sets' spam messages), and the German channel offensive tweets."""
    sets, removes = _SETS[community]
    out = []
    for e in load_all(data_dir, sets):
        removed = e.labels[removes]
        if community is Community.SPAM and not removed:
            continue
        out.append(Example(e.text, community, e.labels | {Category.REMOVAL: removed}, e.group, e.language))
    return out
