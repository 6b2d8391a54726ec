"""The simulator's communities: the labelled texts each chat community's traffic is drawn from."""

from pathlib import Path

from contracts.categories import Category
from training.corpora import Source, load_all
from training.data import Community, LabelledText


def load_community(data_dir: Path, community: Community) -> list[LabelledText]:
    """The labelled texts of one of the bundled communities, as `training.corpora` reads their sets,
    with every category the set labels; `label` (the `removal` category) is what the community's
    moderators remove: r/science its own removals, the tweets' channel offensive or hateful tweets,
    a chat channel the spam posted into it (the spam sets' spam messages), and the German channel
    offensive tweets."""
    sets, removes = {
        Community.RSCIENCE: ([Source.RSCIENCE], Category.REMOVAL),
        Community.TWEETS: ([Source.DAVIDSON], Category.TOXICITY),
        Community.SPAM: ([Source.YOUTUBE, Source.SMS], Category.SPAM),
        Community.GERMAN: ([Source.GERMEVAL], Category.TOXICITY),
    }.get(community, ([], None))
    if removes is None:
        raise ValueError(f"no bundled data set for community {community}")
    out = []
    for e in load_all(data_dir, sets):
        removed = e.labels[removes]
        if community is Community.SPAM and not removed:
            continue
        truth = {str(c): y for c, y in e.labels.items()} | {Category.REMOVAL.value: removed}
        out.append(LabelledText(e.text, "remove" if removed else "allow", community, tuple(truth.items())))
    return out
