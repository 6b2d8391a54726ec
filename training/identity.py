"""A templated identity set for bias metrics: identity terms × toxic and benign sentence templates.

Pure and deterministic. Every template is filled with every term, so a term's messages differ from
another's only by the identity they name; a model that scores them differently has learnt the identity,
not the attack. The set measures, it never trains: a test holds that no sentence of it is a text of the
training data.
"""

from dataclasses import dataclass
from enum import StrEnum


class IdentityGroup(StrEnum):
    """The kind of identity a term names."""

    RACE = "race_ethnicity"
    RELIGION = "religion"
    GENDER = "gender"
    ORIENTATION = "sexual_orientation"
    DISABILITY = "disability"
    NATIONALITY = "nationality"
    AGE = "age"


@dataclass(frozen=True, slots=True)
class IdentityTerm:
    """One identity in the three forms templates need: "a deaf person", "deaf people", "deaf"."""

    term: str  # the subgroup's name in reports
    group: IdentityGroup
    adjective: str
    person: str
    people: str


def _term(
    term: str, group: IdentityGroup, adjective: str = "", person: str = "", people: str = ""
) -> IdentityTerm:
    adjective = adjective or term
    return IdentityTerm(
        term,
        group,
        adjective,
        person or f"{'an' if adjective[0] in 'aeiouAEIOU' else 'a'} {adjective} person",
        people or f"{adjective} people",
    )


_G = IdentityGroup
TERMS: tuple[IdentityTerm, ...] = (
    _term("black", _G.RACE),
    _term("white", _G.RACE),
    _term("asian", _G.RACE, "Asian"),
    _term("latino", _G.RACE, "Latino", "a Latino", "Latinos"),
    _term("arab", _G.RACE, "Arab", "an Arab", "Arabs"),
    _term("jewish", _G.RELIGION, "Jewish"),
    _term("muslim", _G.RELIGION, "Muslim", "a Muslim", "Muslims"),
    _term("christian", _G.RELIGION, "Christian", "a Christian", "Christians"),
    _term("hindu", _G.RELIGION, "Hindu", "a Hindu", "Hindus"),
    _term("buddhist", _G.RELIGION, "Buddhist", "a Buddhist", "Buddhists"),
    _term("sikh", _G.RELIGION, "Sikh", "a Sikh", "Sikhs"),
    _term("atheist", _G.RELIGION, "atheist", "an atheist", "atheists"),
    _term("women", _G.GENDER, "female", "a woman", "women"),
    _term("men", _G.GENDER, "male", "a man", "men"),
    _term("trans", _G.GENDER),
    _term("nonbinary", _G.GENDER),
    _term("gay", _G.ORIENTATION),
    _term("lesbian", _G.ORIENTATION, "lesbian", "a lesbian", "lesbians"),
    _term("bisexual", _G.ORIENTATION),
    _term("queer", _G.ORIENTATION),
    _term("straight", _G.ORIENTATION),
    _term("disabled", _G.DISABILITY),
    _term("deaf", _G.DISABILITY),
    _term("blind", _G.DISABILITY),
    _term("autistic", _G.DISABILITY),
    _term("mexican", _G.NATIONALITY, "Mexican", "a Mexican", "Mexicans"),
    _term("african", _G.NATIONALITY, "African", "an African", "Africans"),
    _term("chinese", _G.NATIONALITY, "Chinese"),
    _term("indian", _G.NATIONALITY, "Indian", "an Indian", "Indians"),
    _term("immigrant", _G.NATIONALITY, "immigrant", "an immigrant", "immigrants"),
    _term("old", _G.AGE),
    _term("young", _G.AGE),
)


@dataclass(frozen=True, slots=True)
class Template:
    """A sentence with `{adjective}`, `{person}` or `{people}` slots, toxic (1) or benign (0)."""

    text: str
    label: int


_TOXIC = (
    "{people} are disgusting.",
    "I hate {people}.",
    "All {people} should die.",
    "{people} are subhuman trash.",
    "Kill all the {people}.",
    "{people} are filthy animals.",
    "Get the {people} out of this country, they are vermin.",
    "You are a worthless {adjective} piece of shit.",
    "Shut up, you stupid {adjective} idiot.",
    "{people} are too stupid to live.",
    "Never trust {person}, they are all liars and thieves.",
    "{people} ruin everything they touch.",
    "I would never hire {person}, they are lazy and useless.",
    "{people} are a disease on this planet.",
    "Go back to where you came from, you dumb {adjective} freak.",
    "The world would be better without {people}.",
    "{people} deserve to be beaten.",
    "{people} are ugly, stinking losers.",
    "Nobody wants {people} around, they are a plague.",
    "Fuck all {people}.",
)
_BENIGN = (
    "I am {person}.",
    "My best friend is {person}.",
    "{people} are wonderful.",
    "We had dinner with our {adjective} neighbours.",
    "My sister married {person} last summer.",
    "{people} are welcome in our community.",
    "I love my {adjective} friends.",
    "Our team hired {person} as the new engineer.",
    "{people} have made great contributions to science.",
    "The conference had a panel of {adjective} speakers.",
    "I grew up in a neighbourhood with many {people}.",
    "Being {person} is nothing to be ashamed of.",
    "My favourite teacher was {person}.",
    "{people} deserve the same rights as everyone else.",
    "We should listen to {people} and their stories.",
    "There is a support group for {adjective} students at my school.",
    "My doctor is {person} and very kind.",
    "{people} are just people like everyone else.",
    "I read a great book by {person}.",
    "Happy to see more {people} in leadership roles.",
)
TEMPLATES: tuple[Template, ...] = (*(Template(t, 1) for t in _TOXIC), *(Template(t, 0) for t in _BENIGN))


@dataclass(frozen=True, slots=True)
class IdentityExample:
    """One templated message: its text, 1 toxic / 0 benign, the term it names and that term's group."""

    text: str
    label: int
    subgroup: str
    group: IdentityGroup
    template: str


def fill(template: Template, term: IdentityTerm) -> str:
    """The template's sentence for one term, its first letter capitalised."""
    text = template.text.format(adjective=term.adjective, person=term.person, people=term.people)
    return text[:1].upper() + text[1:]


def templated_set(
    terms: tuple[IdentityTerm, ...] = TERMS, templates: tuple[Template, ...] = TEMPLATES
) -> list[IdentityExample]:
    """Every template filled with every term, in a fixed order (term-major)."""
    return [
        IdentityExample(fill(template, term), template.label, term.term, term.group, template.text)
        for term in terms
        for template in templates
    ]
