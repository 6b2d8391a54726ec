"""Words that name an identity group, and whether a text names one (pure).

A linear model of words judges "{people} are wonderful" by the words it saw around each group's name,
and the sets it learns from mention some groups mostly in attacks: its scores for a message that names a
group carry that history (Dixon et al., 2018; Borkan et al., 2019). The cascade therefore hands a short
message that names a group to the encoder, which reads the sentence rather than the name (within the
batch's time budget, as the uncertain band). Short: at most `SHORT_WORDS` words, one window of the fast
model, where a group's name is a large share of its evidence; a longer message the fast model reads as
windows, and the encoder would read it diluted (fifty words of small talk around an insult that names a
group must not lower it). The list is the groups of the templated identity set (training/identity.py; a
test holds that every form it uses is here) and the commonly used identity-term lists' other forms; it
is matched on lower-cased letter runs, so its cost is linear in the text.
"""

import re

IDENTITY_WORDS = frozenset(
    {
        # race, ethnicity, nationality
        *("black", "blacks", "white", "whites", "asian", "asians", "latino", "latinos", "latina"),
        *("latinas", "latinx", "hispanic", "hispanics", "arab", "arabs", "african", "africans"),
        *("mexican", "mexicans", "chinese", "indian", "indians", "immigrant", "immigrants"),
        *("refugee", "refugees", "european", "europeans"),
        # religion
        *("jew", "jews", "jewish", "muslim", "muslims", "islam", "islamic", "christian", "christians"),
        *("catholic", "catholics", "protestant", "hindu", "hindus", "buddhist", "buddhists", "sikh"),
        *("sikhs", "atheist", "atheists"),
        # gender and sexual orientation
        *("woman", "women", "man", "men", "female", "females", "male", "males", "trans", "transgender"),
        *("nonbinary", "gay", "gays", "lesbian", "lesbians", "bisexual", "bisexuals", "queer", "queers"),
        *("straight", "homosexual", "homosexuals", "heterosexual", "lgbt", "lgbtq"),
        # disability and age
        *("disabled", "deaf", "blind", "autistic", "old", "elderly", "young", "teenage"),
    }
)
_LETTERS = re.compile(r"[^\W\d_]+")
SHORT_WORDS = 16  # the fast model's window (stream_consumer.features: 16 tokens)


def names_identity(text: str) -> bool:
    """Whether `text` contains a word of IDENTITY_WORDS (as a whole word, in any case)."""
    return any(word in IDENTITY_WORDS for word in _LETTERS.findall(text.lower()))


def short_and_names_identity(text: str) -> bool:
    """Whether `text` is short (at most `SHORT_WORDS` words) and names an identity group: what the
    cascade escalates for it."""
    words = text.split(maxsplit=SHORT_WORDS)
    return len(words) <= SHORT_WORDS and names_identity(text)
