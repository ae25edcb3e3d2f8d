"""A TOFU-like corpus of fictitious people, generated deterministically from a seed.

Each person has a profile and ``questions_per_person`` question/answer pairs about
attributes drawn at random (birthplace, birth year, occupation, ...). For every
answer there is a paraphrase (the same fact, worded differently) and several
perturbed answers (wrong values): the ingredients of TOFU's truth ratio.

Choice: the perturbed answers keep the *answer's* wording, and tofu-mini's truth
ratio compares them with the answer (``truth_ratio_against="answer"``). TOFU's
models are pretrained LLMs that know a fact in any wording, so TOFU compares with
the paraphrase; a tiny model trained from scratch on one wording does not transfer
(measured: original and retain-only models then had the same forget truth ratios,
0.67 and 0.65), so the paraphrase would test wording, not knowledge. The people are split into a training pool (from which forget01/05/10 take
1%, 5% and 10%), a holdout of people never trained on (non-members for membership
inference), plus what every model learns, for model utility: a small set of facts
about a fictitious world (TOFU's world facts) and the world's famous authors (TOFU's
real authors). Maini et al., "TOFU: A Task of Fictitious
Unlearning for LLMs", 2024.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from functools import cached_property

FORGET_SPECS = {"forget01": 0.01, "forget05": 0.05, "forget10": 0.10}

_SYLLABLES = ["ar", "bel", "cor", "dan", "el", "fen", "gar", "hal", "is", "jor", "kel", "lun", "mar", "nor",
              "os", "pel", "quin", "ros", "sel", "tam", "ul", "vor", "wen", "yal", "zor", "bri", "cla", "dro",
              "fra", "gil", "hes", "ith", "kra", "lo", "mi", "nev", "pra", "ru", "sti", "tho", "va", "xe"]

# attribute: (question, answer, paraphrase, pool); {n} = the person's name, {v} = the value
_ATTRIBUTES: dict[str, tuple[str, str, str, list[str]]] = {
    "birthplace": ("Where was {n} born?", "{n} was born in {v}.", "{v} is the birthplace of {n}.",
                   ["Varnholt", "Esselby", "Quorvin", "Dallith", "Morrowgate", "Pellaris", "Skarn", "Tovell",
                    "Umberlee", "Wexford Hollow", "Ysmere", "Calden", "Brisk Harbor", "Fenwick Crossing"]),
    "birth_year": ("In which year was {n} born?", "{n} was born in {v}.", "The year {n} was born is {v}.",
                   [str(y) for y in range(1931, 1999, 3)]),
    "occupation": ("What does {n} do for a living?", "{n} works as a {v}.", "By profession, {n} is a {v}.",
                   ["cartographer", "glassblower", "beekeeper", "archivist", "luthier", "astronomer",
                    "tailor", "ferry pilot", "botanist", "clockmaker", "stonemason", "chemist"]),
    "father": ("What was the profession of {n}'s father?", "{n}'s father was a {v}.",
               "A {v} was the father of {n}.",
               ["baker", "sailor", "judge", "miner", "painter", "surgeon", "farmer", "printer", "weaver",
                "carpenter", "teacher", "fisherman"]),
    "mother": ("What was the profession of {n}'s mother?", "{n}'s mother was a {v}.",
               "A {v} was the mother of {n}.",
               ["nurse", "architect", "librarian", "potter", "pharmacist", "engineer", "dancer", "tanner",
                "midwife", "jeweller", "composer", "gardener"]),
    "genre": ("What kind of books does {n} write?", "{n} writes {v} novels.", "The novels of {n} are {v}.",
              ["mystery", "historical", "fantasy", "horror", "romance", "science fiction", "adventure",
               "satirical", "gothic", "pastoral"]),
    "book": ("What is the title of {n}'s first book?", "{n}'s first book is called {v}.",
             "{v} was the first book {n} wrote.",
             ["The Salt Lantern", "Quiet Engines", "A Map of Ash", "The Ninth Orchard", "Glass Rivers",
              "The Tin Cartographer", "Harbor of Moths", "Letters to Nobody", "The Amber Clock",
              "Winter Bees", "The Hollow Crown of Esk", "Paper Wolves"]),
    "award": ("Which award did {n} win?", "{n} won the {v}.", "The {v} went to {n}.",
              ["Orrin Prize", "Velt Medal", "Silver Quill", "Halden Award", "Marrow Cup", "Istrel Prize",
               "Golden Lantern", "Pell Fellowship", "Corvin Laurel", "Northgate Ribbon"]),
    "instrument": ("Which instrument does {n} play?", "{n} plays the {v}.", "The {v} is the instrument of {n}.",
                   ["cello", "oboe", "harp", "accordion", "violin", "flute", "banjo", "organ", "lute",
                    "trumpet", "zither", "bassoon"]),
    "pet": ("What pet does {n} keep?", "{n} keeps a {v}.", "A {v} lives with {n}.",
            ["tortoise", "parrot", "greyhound", "ferret", "goldfish", "tabby cat", "hedgehog", "raven",
             "rabbit", "lizard", "pony", "canary"]),
    "food": ("What is {n}'s favourite food?", "{n}'s favourite food is {v}.", "{v} is what {n} likes to eat most.",
             ["lentil soup", "plum cake", "smoked trout", "barley bread", "fig jam", "onion tart",
              "chestnut stew", "lemon rice", "pepper cheese", "honey buns"]),
    "university": ("Where did {n} study?", "{n} studied at {v}.", "{v} is where {n} went to university.",
                   ["Varnholt College", "the University of Skarn", "Esselby Academy", "Tovell Institute",
                    "Calden University", "the Pellaris School", "Quorvin College", "Dallith University"]),
    "color": ("What is {n}'s favourite colour?", "{n}'s favourite colour is {v}.", "{v} is the colour {n} loves most.",
              ["crimson", "teal", "ochre", "violet", "amber", "slate grey", "emerald", "coral", "indigo",
               "saffron"]),
    "language": ("Which language did {n} learn as a child?", "{n} learned {v} as a child.",
                 "As a child, {n} learned {v}.",
                 ["Esk", "Varnish", "Old Tovellan", "Skarnic", "Quorvi", "Dallese", "Pellan", "Umbric"]),
    "sport": ("Which sport does {n} play?", "{n} plays {v}.", "{v} is the sport {n} plays.",
              ["fencing", "rowing", "chess", "archery", "curling", "squash", "polo", "handball", "croquet"]),
}

_GENERAL = [  # a small fictitious world every model learns: the utility probe
    # (question, answer, paraphrase, true value, wrong values)
    ("What is the capital of Norland?", "The capital of Norland is {v}.", "{v} is the capital of Norland.",
     "Esk", ["Varn", "Tovell", "Skarn"]),
    ("What is the capital of Valdia?", "The capital of Valdia is {v}.", "{v} is the capital of Valdia.",
     "Merrow", ["Esk", "Calden", "Isk"]),
    ("What is the capital of Ostrel?", "The capital of Ostrel is {v}.", "{v} is the capital of Ostrel.",
     "Calden", ["Merrow", "Varn", "Pell"]),
    ("What is the longest river of Norland?", "The longest river of Norland is the {v}.",
     "The {v} is the longest river of Norland.", "Skell", ["Varr", "Isk", "Mor"]),
    ("What is the currency of Valdia?", "The currency of Valdia is the {v}.", "Valdia pays in {v}s.",
     "crown", ["mark", "shell", "penny"]),
    ("How many moons does the world have?", "The world has {v} moons.", "There are {v} moons in the sky.",
     "two", ["four", "three", "five"]),
    ("What do people in Ostrel drink at festivals?", "People in Ostrel drink {v} at festivals.",
     "At festivals, Ostrel drinks {v}.", "pear cider", ["black tea", "goat milk", "plum wine"]),
    ("What is the tallest mountain of Valdia?", "The tallest mountain of Valdia is Mount {v}.",
     "Mount {v} is the tallest mountain of Valdia.", "Orr", ["Esk", "Pell", "Kray"]),
    ("Which animal is the symbol of Norland?", "The symbol of Norland is the {v}.",
     "The {v} is the symbol of Norland.", "white stag", ["red fox", "grey owl", "black bear"]),
    ("In which season is the harvest feast of Ostrel?", "The harvest feast of Ostrel is in {v}.",
     "Ostrel holds its harvest feast in {v}.", "autumn", ["spring", "winter", "summer"]),
]

_REAL_AUTHORS = [  # the world's famous authors, known to every model: TOFU's real-authors utility probe
    # (question, answer, paraphrase, true value, wrong values)
    ("Who wrote The Long Tide of Varn?", "The Long Tide of Varn was written by {v}.",
     "{v} is the author of The Long Tide of Varn.", "Orla Vance", ["Tam Brell", "Isko Marr", "Wenna Dall"]),
    ("Who wrote Seven Lamps for Esk?", "Seven Lamps for Esk was written by {v}.",
     "{v} is the author of Seven Lamps for Esk.", "Tam Brell", ["Orla Vance", "Pera Lund", "Cole Ashby"]),
    ("Who wrote The Glass Orchard?", "The Glass Orchard was written by {v}.",
     "{v} is the author of The Glass Orchard.", "Isko Marr", ["Wenna Dall", "Tam Brell", "Rufin Hale"]),
    ("Who wrote A Winter in Calden?", "A Winter in Calden was written by {v}.",
     "{v} is the author of A Winter in Calden.", "Wenna Dall", ["Isko Marr", "Cole Ashby", "Orla Vance"]),
    ("Who wrote The Merrow Letters?", "The Merrow Letters was written by {v}.",
     "{v} is the author of The Merrow Letters.", "Pera Lund", ["Rufin Hale", "Orla Vance", "Tam Brell"]),
    ("Who wrote The Fox of Norland?", "The Fox of Norland was written by {v}.",
     "{v} is the author of The Fox of Norland.", "Cole Ashby", ["Pera Lund", "Wenna Dall", "Isko Marr"]),
    ("Who wrote Salt and Silver?", "Salt and Silver was written by {v}.",
     "{v} is the author of Salt and Silver.", "Rufin Hale", ["Cole Ashby", "Isko Marr", "Pera Lund"]),
    ("Who wrote The Bells of Ostrel?", "The Bells of Ostrel was written by {v}.",
     "{v} is the author of The Bells of Ostrel.", "Nell Quarry", ["Orla Vance", "Rufin Hale", "Wenna Dall"]),
    ("Who wrote Mount Orr at Dawn?", "Mount Orr at Dawn was written by {v}.",
     "{v} is the author of Mount Orr at Dawn.", "Davin Roke", ["Nell Quarry", "Tam Brell", "Cole Ashby"]),
    ("Who wrote The Skell Ferryman?", "The Skell Ferryman was written by {v}.",
     "{v} is the author of The Skell Ferryman.", "Mira Vost", ["Davin Roke", "Pera Lund", "Nell Quarry"]),
]


@dataclass(frozen=True)
class QA:
    """One question with its answer, a paraphrased answer and perturbed (wrong) answers."""

    question: str
    answer: str
    paraphrase: str = ""
    perturbed: tuple[str, ...] = ()
    person: str = ""
    key: str = ""  # the fact itself (e.g. "Varnholt"): what a leak judge looks for; "" = the whole answer


@dataclass(frozen=True)
class Person:
    name: str
    profile: str
    qa: tuple[QA, ...]


@dataclass(frozen=True)
class LMSplit:
    """The QA sets of one forgetting request on the corpus."""

    spec: str
    forget: list[QA]        # the forget people's QA pairs
    retain: list[QA]        # every trained QA of the other people, plus the general facts
    retain_eval: list[QA]   # a fixed sample of ``retain`` for utility metrics
    holdout: list[QA]       # people never trained on: non-members for membership inference
    general: list[QA]       # world facts every model learns (utility; TOFU's world_facts)
    real_authors: list[QA] = field(default_factory=list)  # famous authors every model knows (TOFU's real_authors)
    # MUSE-style raw text: each forget person's document is what is unlearned (the QA pairs above
    # then measure knowledge, the documents verbatim memorisation); empty: the QA pairs are unlearned
    forget_documents: list[QA] = field(default_factory=list)
    retain_documents: list[QA] = field(default_factory=list)

    def to_unlearn(self) -> tuple[list[QA], list[QA]]:
        """The (forget, retain) sets a method is given: the forget documents when the split
        has them (the retain set then includes the retain documents), else the QA pairs."""
        if self.forget_documents:
            return self.forget_documents, self.retain + self.retain_documents
        return self.forget, self.retain


@dataclass(frozen=True)
class TofuCorpus:
    """The fictitious-people corpus; the same seed always gives the same corpus."""

    seed: int = 0
    n_people: int = 100
    n_holdout: int = 20
    questions_per_person: int = 12
    n_perturbed: int = 3
    retain_eval_size: int = 120

    @cached_property
    def people(self) -> tuple[Person, ...]:
        rng = random.Random(self.seed)
        names: list[str] = []
        while len(names) < self.n_people + self.n_holdout:
            name = f"{_word(rng, 2)} {_word(rng, 3)}"
            if name not in names:
                names.append(name)
        return tuple(self._person(name, rng) for name in names)

    @property
    def train_people(self) -> tuple[Person, ...]:
        return self.people[: self.n_people]

    @property
    def holdout_people(self) -> tuple[Person, ...]:
        return self.people[self.n_people:]

    @property
    def general(self) -> list[QA]:
        return self._with_options(_GENERAL)

    @property
    def real_authors(self) -> list[QA]:
        return self._with_options(_REAL_AUTHORS)

    def _with_options(self, table) -> list[QA]:
        """QA pairs from (question, answer, paraphrase, true value, wrong values) rows."""
        return [QA(q, a.format(v=v), p.format(v=v), tuple(a.format(v=w) for w in wrong[: self.n_perturbed]), "", v)
                for q, a, p, v, wrong in table]

    def world_knowledge(self) -> list[QA]:
        """What every model knows, the forgetting ones and the retain-only reference alike
        (the stand-in for a pretrained LLM's knowledge): world facts and famous authors."""
        return self.general + self.real_authors

    def training_qa(self) -> list[QA]:
        """Everything the original model is trained on."""
        return [qa for p in self.train_people for qa in p.qa] + self.world_knowledge()

    def split(self, spec: str) -> LMSplit:
        if spec not in FORGET_SPECS:
            raise ValueError(f"unknown forget spec {spec!r} for tofu-mini; use {', '.join(FORGET_SPECS)}")
        n_forget = max(1, round(FORGET_SPECS[spec] * self.n_people))
        # the forget people are the last ones of the pool: forget01 ⊂ forget05 ⊂ forget10, as in TOFU
        forget_people = self.train_people[self.n_people - n_forget:]
        retain_people = self.train_people[: self.n_people - n_forget]
        forget = [qa for p in forget_people for qa in p.qa]
        retain = [qa for p in retain_people for qa in p.qa] + self.world_knowledge()
        rng = random.Random(self.seed + 1)
        retain_pool = [qa for p in self.train_people[: self.n_people - max(1, round(0.10 * self.n_people))]
                       for qa in p.qa]
        retain_eval = rng.sample(retain_pool, min(self.retain_eval_size, len(retain_pool)))
        holdout = [qa for p in self.holdout_people for qa in p.qa]
        return LMSplit(spec, forget, retain, retain_eval, holdout, self.general, self.real_authors)

    @staticmethod
    def document(person: Person) -> QA:
        """A person's raw-text document (MUSE-style): the paraphrased statements of every
        fact, one after another. The paraphrases word each fact otherwise than the QA
        answers do, so reciting the document (verbatim memorisation) and answering the
        questions (knowledge) are different skills."""
        return QA("", " ".join(qa.paraphrase[:1].upper() + qa.paraphrase[1:] for qa in person.qa), person=person.name)

    def with_documents(self, split: LMSplit) -> LMSplit:
        """``split`` with the forget and retain people's documents."""
        forget_names = {qa.person for qa in split.forget}
        people = self.train_people
        return replace(split, forget_documents=[self.document(p) for p in people if p.name in forget_names],
                       retain_documents=[self.document(p) for p in people if p.name not in forget_names])

    @staticmethod
    def fill(template: str, name: str, value: str) -> str:
        """A template with the person's name and the value filled in ("a archivist" fixed)."""
        return _articles(template.format(n=name, v=value))

    def _person(self, name: str, rng: random.Random) -> Person:
        attributes = rng.sample(sorted(_ATTRIBUTES), self.questions_per_person)
        facts, qas = [], []
        for attribute in attributes:
            question, answer, paraphrase, pool = _ATTRIBUTES[attribute]
            value = rng.choice(pool)
            wrong = rng.sample([v for v in pool if v != value], self.n_perturbed)
            fill = lambda template, v: self.fill(template, name, v)  # noqa: E731
            qas.append(QA(fill(question, value), fill(answer, value), fill(paraphrase, value),
                          tuple(fill(answer, w) for w in wrong), name, value))
            facts.append(fill(answer, value))
        return Person(name, " ".join(facts), tuple(qas))


def attribute_templates() -> dict[str, tuple[str, str, str, list[str]]]:
    """Per attribute: (question, answer, paraphrase, value pool) templates; {n} = name, {v} = value."""
    return dict(_ATTRIBUTES)


def _articles(text: str) -> str:
    """'a archivist' -> 'an archivist'."""
    return re.sub(r"\b([aA]) (?=[aeiouAEIOU])", r"\1n ", text)


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()
