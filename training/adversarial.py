"""What a hostile user sends: obfuscation families (the evasion suite) and texts built to cost time.

Pure: texts in, texts out, seeded. The evasion suite measures, per family, how many toxic messages the
model removed in clean form it still removes (and still flags) once obfuscated, and how many more benign
messages it flags under the same transform; the promotion gate holds challengers to floors on it.
Languages are a family too: a sentence, or a thousand characters, in a language the fast model is not
trained on around a toxic message (`OBFUSCATIONS`), and the reverse — insults in such a language behind a
sentence in one it knows (`FOREIGN_FAMILIES`, on the suite's own hand-written `FOREIGN_INSULTS` and
`FOREIGN_CHAT`: none of the data sets holds French, Italian, Spanish or Portuguese).
"""

import random
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from contracts.policy import Thresholds

Obfuscation = Callable[[str, random.Random], str]
ScoreTexts = Callable[[Sequence[str]], NDArray[np.float64]]  # raw texts in, calibrated scores out

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"})
_HOMOGLYPHS = str.maketrans(  # look-alikes from several scripts, none in the Cyrillic table above
    {"u": "ս", "o": "օ", "c": "ϲ", "i": "ɩ", "a": "ɑ", "h": "һ", "n": "ո", "s": "ꜱ", "t": "ᴛ", "l": "ӏ"}
)
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
_EMOJI = ("😀", "🔥", "💯", "👍", "🙃", "😂")
NEUTRAL_TEXT = (
    "the weather was fine today and we walked to the market to buy some bread and apples while the "
    "children played in the park near the old library then we had lunch at a small cafe by the river "
    "and talked about the plans for next week before going back home in the late afternoon"
)
NEUTRAL_WORDS = tuple(NEUTRAL_TEXT.split())
ALLOWED_TERM = "gg"  # the suite's channel allows it, as a gaming channel would

# Small talk in languages none of the data sets holds, to hide a message behind.
ITALIAN_SENTENCES = (
    "Ieri sera siamo andati a cena in una piccola trattoria vicino al fiume e abbiamo parlato a lungo.",
    "La settimana prossima andremo in montagna con i bambini, se il tempo sarà bello.",
    "Mia nonna prepara sempre il ragù la domenica mattina e tutta la casa profuma di basilico.",
    "Il treno per Firenze era in ritardo di mezz'ora, così abbiamo preso un caffè alla stazione.",
    "Abbiamo visitato il museo della città e poi abbiamo fatto una lunga passeggiata nel centro storico.",
    "Il mio vicino coltiva pomodori e zucchine nel giardino e ce ne regala sempre una cassetta.",
)
FRENCH_SENTENCES = (
    "Nous sommes allés au marché ce matin pour acheter du pain, des fromages et quelques légumes frais.",
    "Ensuite nous avons pris un café sur la terrasse en regardant les passants et les enfants qui jouaient.",
    "L'après-midi, nous avons visité le vieux quartier de la ville et la petite église près de la rivière.",
    "Le soir, mes amis sont venus dîner à la maison et nous avons parlé des vacances jusqu'à minuit.",
    "Demain, je dois me lever tôt pour prendre le train de sept heures et aller voir ma sœur à Lyon.",
    "Le jardin est plein de fleurs cette année, les roses et les tulipes sont magnifiques.",
    "Mon voisin répare son vélo dans la cour tous les samedis en écoutant la radio.",
    "La bibliothèque du quartier organise une lecture pour les enfants chaque mercredi après-midi.",
)
# Insults and small talk in those languages, and sentences in English to hide them behind.
FOREIGN_INSULTS = (
    "Espèce de connard, t'es qu'une grosse merde et tout le monde te déteste.",
    "Ferme ta gueule, sale abruti, personne ne veut entendre tes conneries.",
    "T'es vraiment un pauvre con, va te faire foutre.",
    "Quelle salope, elle mérite tout ce qui lui arrive.",
    "Dégage d'ici, espèce de débile, tu pues la merde.",
    "T'es qu'un bouffon minable, retourne pleurer chez ta mère.",
    "Ce mec est un enculé de première, je le déteste.",
    "Va crever, sale ordure, personne ne te regrettera.",
    "Sei un coglione totale, vaffanculo e non tornare più.",
    "Stai zitto, pezzo di merda, nessuno ti sopporta.",
    "Che stronzo, spero che tu sparisca per sempre.",
    "Sei proprio una puttana schifosa, fai schifo a tutti.",
    "Vai a cagare, idiota del cazzo.",
    "Brutto imbecille, sei la vergogna della tua famiglia.",
    "Quel deficiente merita solo calci in culo.",
    "Muori, bastardo, il mondo starebbe meglio senza di te.",
    "Eres un pendejo de mierda, nadie te quiere aquí.",
    "Cállate, imbécil, solo dices estupideces.",
    "Vete a la mierda, cabrón asqueroso.",
    "Qué puta tan asquerosa, me das asco.",
    "Eres un gilipollas y un inútil, lárgate.",
    "Ojalá te mueras, hijo de puta.",
    "Maldito idiota, eres una basura de persona.",
    "Este tonto del culo no sabe hacer nada bien.",
    "Cala a boca, seu merda, ninguém te aguenta.",
    "Você é um idiota do caralho, vai se foder.",
    "Que vagabunda nojenta, tenho nojo de você.",
    "Seu filho da puta, some daqui.",
    "Esse babaca é um lixo de pessoa.",
    "Vai tomar no cu, seu otário imbecil.",
)
FOREIGN_CHAT = (
    "On se retrouve ce soir devant le cinéma vers huit heures ?",
    "Merci beaucoup pour ton aide, la recette était délicieuse.",
    "Il fait vraiment beau aujourd'hui, on va se promener au parc.",
    "Tu as vu le match hier soir ? Quelle belle victoire !",
    "Je cherche un bon livre à lire pendant les vacances.",
    "Le train avait encore du retard ce matin, quelle galère.",
    "Bon anniversaire ! Passe une excellente journée avec ta famille.",
    "Est-ce que quelqu'un sait à quelle heure commence le stream ?",
    "Ci vediamo domani mattina al bar per un caffè?",
    "Grazie mille per il consiglio, ha funzionato benissimo.",
    "Oggi piove tutto il giorno, resto a casa a leggere.",
    "Che bella partita ieri sera, la squadra ha giocato benissimo.",
    "Sto imparando a cucinare la pasta fatta in casa.",
    "Buon compleanno! Ti auguro una giornata fantastica.",
    "Qualcuno sa quando esce il nuovo episodio?",
    "Il concerto di sabato è stato bellissimo.",
    "¿Quedamos mañana para tomar un café en el centro?",
    "Muchas gracias por la ayuda, todo salió muy bien.",
    "Hoy hace un día precioso para ir a la playa.",
    "¿Alguien sabe a qué hora empieza el directo?",
    "Me encantó la película que vimos el fin de semana.",
    "Feliz cumpleaños, que pases un día estupendo.",
    "Estoy aprendiendo a tocar la guitarra, es muy divertido.",
    "El tren llegó tarde otra vez esta mañana.",
    "Vamos nos encontrar amanhã para almoçar?",
    "Muito obrigado pela ajuda, deu tudo certo.",
    "Hoje o dia está lindo, vou caminhar na praia.",
    "Alguém sabe que horas começa a transmissão?",
    "Adorei o filme que vimos ontem à noite.",
    "Feliz aniversário, tenha um dia maravilhoso.",
)
KNOWN_FILLER = (
    "Anyway, I hope everyone has a great weekend with their family and friends.",
    "By the way, the weather here has been lovely all week and the park is full of people.",
    "Also, does anyone know when the next episode of the show comes out this month?",
    "Anyway, thanks for reading and have a nice evening everyone.",
)


def _per_word(fn: Callable[[str], str]) -> Callable[[str, random.Random], str]:
    return lambda text, _rng: " ".join(fn(w) for w in text.split())


def _between_letters(mark: str) -> Obfuscation:
    """The mark between every two letters of a word ("b.i.t.c.h,"); mentions, hashtags, links and
    numbers are left alone, as an attacker spelling out a word would."""

    def spread(word: str) -> str:
        if any(c in "@#/" or c.isdigit() for c in word):
            return word
        out = [word[:1]]
        for a, b in pairwise(word):
            out.append(mark + b if a.isalpha() and b.isalpha() else b)
        return "".join(out)

    return _per_word(spread)


def _repeat_letters(word: str) -> str:
    for i, c in enumerate(word):
        if c.lower() in "aeiou":
            return word[:i] + c * 5 + word[i + 1 :]
    return word


def _mask_vowel(word: str) -> str:
    vowels = [i for i, c in enumerate(word) if c.lower() in "aeiou"]
    if len(word) < 3 or not vowels:
        return word
    i = vowels[0] if vowels[0] > 0 or len(vowels) == 1 else vowels[1]
    return word[:i] + "*" + word[i + 1 :]


def _french_in_front(text: str, rng: random.Random) -> str:
    """1,000 characters of French small talk, then the message."""
    french = " ".join(rng.sample(FRENCH_SENTENCES, len(FRENCH_SENTENCES)) * 2)
    return f"{french[:1_000]} {text}"


def _zalgo(text: str, rng: random.Random) -> str:
    return "".join(
        c + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(3)) if c.isalpha() else c for c in text
    )


def _tags(text: str, rng: random.Random) -> str:
    return " ".join(chr(rng.randrange(0xE0020, 0xE0080)).join(w) for w in text.split())


OBFUSCATIONS: dict[str, Obfuscation] = {
    "letters repeated x5": _per_word(_repeat_letters),
    "right-to-left override, reversed": lambda t, _r: "\u202e" + t[::-1] + "\u202c",
    "spaced letters": lambda t, r: "  ".join(_between_letters(" ")(w, r) for w in t.split()),
    "dots between letters": _between_letters("."),
    "dashes between letters": _between_letters("-"),
    "underscores between letters": _between_letters("_"),
    "asterisk for a vowel": _per_word(_mask_vowel),
    "homoglyphs (Armenian, Greek, Latin)": lambda t, _r: t.lower().translate(_HOMOGLYPHS),
    "Cyrillic look-alikes": lambda t, _r: t.lower().translate(_CYRILLIC),
    "leet digits": lambda t, _r: t.lower().translate(_LEET),
    "full-width forms": lambda t, _r: "".join(_FULLWIDTH.get(c, c) for c in t),
    "combining marks (zalgo)": _zalgo,
    "zero-width joiners": _between_letters("\u200d"),
    "zero-width spaces": _between_letters("\u200b"),
    "soft hyphens": _between_letters("\u00ad"),
    "variation selectors": _between_letters("\ufe0f"),
    "tag characters": _tags,
    "braille blanks for spaces": lambda t, _r: t.replace(" ", "\u2800"),
    "Hangul fillers for spaces": lambda t, _r: t.replace(" ", "\u3164"),
    "emoji between words": lambda t, r: " ".join(f"{w} {r.choice(_EMOJI)}" for w in t.split()),
    "mixed case": lambda t, r: "".join(c.upper() if r.random() < 0.5 else c.lower() for c in t),
    "50 neutral words appended": lambda t, r: t + " " + " ".join(r.choice(NEUTRAL_WORDS) for _ in range(50)),
    "allowed term appended": lambda t, _r: f"{t} {ALLOWED_TERM}",
    "foreign sentence appended": lambda t, r: f"{t} {r.choice(ITALIAN_SENTENCES)}",
    "foreign text in front": _french_in_front,
}
# The families of `OBFUSCATIONS` that put text of another language beside the message.
LANGUAGE_FAMILIES = frozenset({"foreign sentence appended", "foreign text in front"})
# Applied to `FOREIGN_INSULTS` and `FOREIGN_CHAT`: the toxic words are in a language the fast model does
# not know, the rest in one it does.
FOREIGN_FAMILIES: dict[str, Obfuscation] = {
    "foreign insult, English sentence appended": lambda t, r: f"{t} {r.choice(KNOWN_FILLER)}",
}


class FamilyResult(BaseModel):
    """One obfuscation family: what stays caught, and what it does to benign messages."""

    model_config = ConfigDict(frozen=True)

    family: str
    toxic: int  # toxic messages removed in clean form
    still_removed: float
    still_flagged: float
    benign: int
    benign_flagged_clean: float
    benign_flagged: float

    @property
    def false_flag_increase(self) -> float:
        return self.benign_flagged - self.benign_flagged_clean


class EvasionFloors(BaseModel):
    """The least a model must keep under every family (the promotion gate)."""

    model_config = ConfigDict(frozen=True)

    still_flagged: float = 0.95
    still_removed: float = 0.90
    false_flag_increase: float = 0.02


class EvasionReport(BaseModel):
    """The evasion suite's result, one row per family."""

    model_config = ConfigDict(frozen=True)

    families: list[FamilyResult]

    def failures(self, floors: EvasionFloors) -> list[str]:
        """Every family below a floor, with the numbers (a family whose toxic messages the model
        removes none of in clean form has nothing to keep: only its benign floor applies)."""
        out = []
        for f in self.families:
            if f.toxic and f.still_flagged < floors.still_flagged:
                out.append(
                    f"{f.family}: {f.still_flagged:.1%} still flagged (floor {floors.still_flagged:.0%})"
                )
            if f.toxic and f.still_removed < floors.still_removed:
                out.append(
                    f"{f.family}: {f.still_removed:.1%} still removed (floor {floors.still_removed:.0%})"
                )
            if f.false_flag_increase > floors.false_flag_increase:
                out.append(
                    f"{f.family}: benign false flags +{f.false_flag_increase:.1%} "
                    f"(at most +{floors.false_flag_increase:.0%})"
                )
        return out

    def table(self) -> list[dict[str, float | str | int]]:
        """Rows for a results file or a printed table."""
        return [
            {
                "family": f.family,
                "toxic": f.toxic,
                "still_removed": round(f.still_removed, 4),
                "still_flagged": round(f.still_flagged, 4),
                "benign": f.benign,
                "benign_flagged_clean": round(f.benign_flagged_clean, 4),
                "benign_flagged": round(f.benign_flagged, 4),
            }
            for f in self.families
        ]


def evasion_suite(
    score: ScoreTexts,
    toxic: Sequence[str],
    benign: Sequence[str],
    thresholds: Thresholds,
    families: dict[str, Obfuscation] | None = None,
    seed: int = 7,
    foreign_families: dict[str, Obfuscation] | None = None,
) -> EvasionReport:
    """Every family applied to the toxic messages the model removes in clean form and to benign ones;
    then every foreign family (`FOREIGN_FAMILIES` unless given; {} for none) to the suite's own
    `FOREIGN_INSULTS` and `FOREIGN_CHAT`.

    `score` must apply the channel's rules as the consumer does (the suite's channel allows
    `ALLOWED_TERM`), so that "allowed term appended" measures the policy path too.
    """
    rows = _rows(score, toxic, benign, thresholds, OBFUSCATIONS if families is None else families, seed)
    foreign = FOREIGN_FAMILIES if foreign_families is None else foreign_families
    if foreign:
        rows += _rows(score, FOREIGN_INSULTS, FOREIGN_CHAT, thresholds, foreign, seed)
    return EvasionReport(families=rows)


def _rows(
    score: ScoreTexts,
    toxic: Sequence[str],
    benign: Sequence[str],
    thresholds: Thresholds,
    families: dict[str, Obfuscation],
    seed: int,
) -> list[FamilyResult]:
    clean_toxic = score(toxic)
    removed = [t for t, p in zip(toxic, clean_toxic, strict=True) if p >= thresholds.remove]
    benign_clean = score(benign) >= thresholds.review
    rows = []
    for name, fn in families.items():
        rng = random.Random(seed)
        toxic_scores = score([fn(t, rng) for t in removed]) if removed else np.zeros(0)
        benign_scores = score([fn(t, rng) for t in benign])
        rows.append(
            FamilyResult(
                family=name,
                toxic=len(removed),
                still_removed=float(np.mean(toxic_scores >= thresholds.remove)) if removed else 0.0,
                still_flagged=float(np.mean(toxic_scores >= thresholds.review)) if removed else 0.0,
                benign=len(benign),
                benign_flagged_clean=float(np.mean(benign_clean)),
                benign_flagged=float(np.mean(benign_scores >= thresholds.review)),
            )
        )
    return rows


# --- texts built to cost time (the cost-ratio test, the fuzzing and the benchmark) -------------


def _repeat_to(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


HOSTILE_TEXTS: dict[str, Callable[[int], str]] = {
    "one long word": lambda n: _repeat_to("a1", n),
    "leet pairs then a long word": lambda n: "a1 " * (n // 6) + "b" * (n - 3 * (n // 6)),
    "long leet run": lambda n: _repeat_to("4$5@1!3|0", n),
    "combining marks": lambda n: "a" + _repeat_to("\u0301\u0302\u0303\u0323\u0324", n - 1),
    "combining marks, other scripts": lambda n: (
        "\u05d0" + _repeat_to("\u05b0\u05b4\u0591\u0f71\u0f72", n - 1)
    ),
    "invisible characters": lambda n: _repeat_to("\u200b\ufe0f\U000e0041\u2800\u00ad\u3164", n),
    "alternating scripts": lambda n: _repeat_to("aа", n),
    "nested brackets": lambda n: "(" * (n // 2) + ")" * (n - n // 2),
    "nested bidi overrides": lambda n: _repeat_to("\u202ea\u202db", n),
    "spelled-out letters": lambda n: _repeat_to("f ", n),
    "letter run": lambda n: "f" + "u" * (n - 2) + "k",
    "masked words": lambda n: _repeat_to("f*ck ", n),
    "dots between letters": lambda n: _repeat_to("a.", n),
    "emoji": lambda n: _repeat_to("😀🔥", n),
    "ordinary text": lambda n: _repeat_to("the quick brown fox jumps over the lazy dog ", n),
}
