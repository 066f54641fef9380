"""Text-only prompts for text replay: arithmetic, facts, definitions and short instructions from templates.

They stay clear of ``tests/data/text_prompts.json``, the prompts that judge whether text skills are kept: no
prompt is one of those, no capital is asked of a country asked there, and the arithmetic operands are drawn from
ranges that never give one of its sums (sums of two numbers from 11 up, differences from 20 up, products with a
factor from 11 up, quotients of dividends below 100, halves of numbers from 60 up).
"""

from __future__ import annotations

import random
from collections.abc import Callable

CAPITALS = ("Germany", "Italy", "Spain", "Portugal", "Egypt", "Canada", "Australia", "Brazil", "Argentina",
            "Mexico", "China", "India", "Russia", "Greece", "Norway", "Sweden", "Finland", "Poland", "Ireland",
            "Kenya", "Peru", "Chile", "Turkey", "Thailand", "Austria", "Belgium", "the Netherlands",
            "South Korea", "Cuba", "Denmark")
OPPOSITES = ("big", "fast", "up", "light", "early", "open", "old", "hard", "wet", "full", "loud", "rich",
             "strong", "tall", "happy", "day", "win", "left", "inside", "heavy", "young", "push", "start", "empty")
PLURALS = ("child", "foot", "tooth", "goose", "man", "woman", "box", "city", "leaf", "knife", "person", "fish",
           "sheep", "baby", "bus", "wolf", "potato", "ox")
SYNONYMS = ("big", "small", "fast", "smart", "sad", "angry", "begin", "quiet", "tired", "brave", "easy", "funny")
DEFINITIONS = ("a noun", "a verb", "an island", "a volcano", "a mammal", "a triangle", "photosynthesis",
               "gravity", "a planet", "an adjective", "a library", "a desert", "a calendar", "a thermometer")
NAME_THREE = ("fruits", "vegetables", "animals that live in the sea", "musical instruments", "sports", "planets",
              "countries in Europe", "birds", "things you find in a kitchen", "kinds of weather",
              "farm animals", "kinds of trees", "body parts", "jobs")
SENTENCE_TOPICS = ("the ocean", "a dog", "winter", "the moon", "a library", "coffee", "a train", "friendship",
                   "the city", "a garden", "rain", "music", "a bicycle", "the forest", "breakfast")
ANIMAL_SOUNDS = ("woof", "moo", "quack", "oink", "baa", "neigh", "hoot", "roar")
LEGS = ("a dog", "a bird", "an insect", "a cow", "a chicken", "a horse", "an ant", "a duck")
UNITS = (("hours", "a day"), ("seconds", "a minute"), ("months", "a year"), ("days", "a year"),
         ("centimeters", "a meter"), ("grams", "a kilogram"), ("sides", "a triangle"), ("sides", "a square"),
         ("players", "a soccer team"), ("continents", "the world"), ("letters", "the English alphabet"))
CAPITALISE = ("world", "apple", "music", "river", "friend", "garden")
LETTERS_AFTER = ("B", "D", "G", "K", "M", "P", "S", "W")
FACTS = (
    "Which planet is the largest in our solar system?", "Which planet is closest to the sun?",
    "What is the largest continent?", "What is the tallest mountain in the world?",
    "What is the longest river in Africa?", "What is the chemical symbol for gold?",
    "What is the chemical symbol for iron?", "What is the chemical symbol for oxygen?",
    "Who wrote Pride and Prejudice?", "Who painted the Mona Lisa?", "Who was the first person to walk on the moon?",
    "What is the hardest natural substance?", "What do bees make?", "What is the fastest land animal?",
    "What is the largest mammal?", "What color is grass?", "What color is a ripe banana?",
    "What is the main language spoken in Brazil?", "How many strings does a violin have?",
    "What is the square root of 81?", "What shape has three sides?", "What do caterpillars turn into?",
    "Which organ pumps blood through the body?", "What is frozen water called?",
)
YES_NO = ("is the moon a planet", "can fish breathe under water", "is a tomato a fruit", "do birds have feathers",
          "is Africa a country", "is the Earth round", "can a dog fly", "is gold a metal",
          "is Canada in Europe", "do plants need sunlight", "is ten an even number", "is seven a prime number",
          "does a triangle have four sides", "is salt sweet", "do cats lay eggs", "is the Pacific an ocean")
COMPLETIONS = ("An apple a day keeps the ...", "Better late than ...", "Actions speak louder than ...",
               "The early bird catches the ...", "Twinkle, twinkle, little ...", "Practice makes ...")

Family = Callable[[random.Random], list[str]]


def _sums(rng: random.Random) -> list[str]:
    out = []
    for _ in range(80):
        a, b = rng.randint(11, 60), rng.randint(11, 60)
        out.append(rng.choice((f"What is {a} + {b}?", f"What is {a} plus {b}?", f"What is the sum of {a} and {b}?")))
    return out


def _differences(rng: random.Random) -> list[str]:
    out = []
    for _ in range(60):
        a, b = rng.randint(20, 99), rng.randint(2, 19)
        out.append(rng.choice((f"What is {a} - {b}?", f"What is {a} minus {b}?")))
    return out


def _products(rng: random.Random) -> list[str]:
    out = []
    for _ in range(60):
        a, b = rng.randint(2, 9), rng.randint(11, 20)
        a, b = (a, b) if rng.random() < 0.5 else (b, a)
        out.append(rng.choice((f"What is {a} times {b}?", f"What is {a} multiplied by {b}?", f"What is {a} x {b}?")))
    return out


def _quotients(rng: random.Random) -> list[str]:
    out = []
    for _ in range(50):
        b = rng.randint(2, 9)
        a = b * rng.randint(2, 99 // b)
        out.append(rng.choice((f"What is {a} divided by {b}?", f"What is {a} / {b}?")))
    return out


def _halves_and_doubles(rng: random.Random) -> list[str]:
    halves = [f"What is half of {2 * rng.randint(30, 49)}?" for _ in range(12)]
    doubles = [f"What is double {rng.randint(11, 49)}?" for _ in range(12)]
    return halves + doubles


def _facts(rng: random.Random) -> list[str]:
    return ([f"What is the capital of {c}?" for c in CAPITALS]
            + [f"What is the opposite of {w}?" for w in OPPOSITES]
            + [f"What is the plural of {w}?" for w in PLURALS]
            + [f"Give a one-word synonym for '{w}'." for w in SYNONYMS]
            + [f"What is {w}?" for w in DEFINITIONS]
            + [f"Answer with yes or no: {q}?" for q in YES_NO]
            + [f"What animal says '{s}'?" for s in ANIMAL_SOUNDS]
            + [f"How many legs does {a} have?" for a in LEGS]
            + [f"How many {unit} are in {whole}?" for unit, whole in UNITS]
            + [f"What letter comes after {letter} in the alphabet?" for letter in LETTERS_AFTER]
            + list(FACTS))


def _instructions(rng: random.Random) -> list[str]:
    return ([f"Name three {things}." for things in NAME_THREE]
            + [f"Write one sentence about {topic}." for topic in SENTENCE_TOPICS]
            + [f"Write the word '{w}' in capital letters." for w in CAPITALISE]
            + [f"Complete the sentence: {start}" for start in COMPLETIONS]
            + [f"Spell the word '{w}' backwards." for w in CAPITALISE]
            + [f"Count from {n} to {n + 4}." for n in (3, 11, 20, 47)])


FAMILIES: dict[str, Family] = {"sum": _sums, "difference": _differences, "product": _products,
                               "quotient": _quotients, "half_double": _halves_and_doubles, "fact": _facts,
                               "instruction": _instructions}


def replay_prompts(seed: int = 0) -> list[tuple[str, str]]:
    """Every distinct (family, prompt), shuffled by ``seed``; the same seed gives the same list."""
    rng = random.Random(seed)
    found: dict[str, str] = {}
    for family, make in FAMILIES.items():
        for prompt in make(rng):
            found.setdefault(prompt, family)
    pairs = [(family, prompt) for prompt, family in found.items()]
    rng.shuffle(pairs)
    return pairs
