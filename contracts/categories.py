"""The harm categories a verdict scores, each with its own calibrated probability and reasons."""

from enum import StrEnum


class Category(StrEnum):
    """What a message is judged for."""

    TOXICITY = "toxicity"  # insults, profanity, harassment
    HATE = "hate"  # attacks on a group or an identity
    SPAM = "spam"  # promotion, scams, link farming
    REMOVAL = "removal"  # a community's own standard, learnt from its moderators' decisions


# What acts in a channel that says nothing: `removal` encodes one community's standard, so a channel
# opts in to it.
DEFAULT_ACTING: tuple[Category, ...] = (Category.TOXICITY, Category.HATE, Category.SPAM)
