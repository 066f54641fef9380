"""Each metric against hand-worked examples; the multiple-choice parser on tricky answers."""

from __future__ import annotations

import math

import pytest

from audiollm.eval.metrics import (
    METRICS,
    TASK_METRICS,
    Tally,
    bleu,
    char_errors,
    choice_match,
    contains_match,
    edit_distance,
    exact_match,
    keyword_recall,
    compare_match,
    parse_choice,
    parse_ordinal,
    parse_yesno,
    rouge_l,
    score_answer,
    task_metrics,
    word_errors,
    yesno_match,
)
from audiollm.eval.normalize import normalize_answer, normalize_english

CHOICES = ["A. cat", "B. dog", "C. hot dog", "D. bird"]


def test_english_normaliser_follows_whisper_rules() -> None:
    whisper = pytest.importorskip("whisper.normalizers")
    reference = whisper.EnglishTextNormalizer()
    for text in [
        "Mr. Smith paid $20.50 for two hundred and five colours!",
        "Uh, it's [inaudible] the 1st of May, isn't it?",
        "She realised the theatre's programme was twenty-one pages long.",
    ]:
        assert normalize_english(text) == reference(text)
    assert normalize_english("Two hundred colours.") == "200 colors"


def test_short_answer_normaliser_keeps_what_a_short_answer_hinges_on() -> None:
    assert normalize_answer("C♯ Major!") == "c# major"
    assert normalize_answer("A minor.") == "a minor"
    assert normalize_answer("  The   (B) dog ") == "the b dog"


def test_edit_distance_counts_substitutions_deletions_insertions() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], []) == 2
    assert edit_distance("same", "same") == 0


def test_wer_and_cer_on_normalised_text() -> None:
    # One deletion ("the") over six reference words; case and punctuation do not count.
    assert word_errors("the cat sat on mat", "The cat sat on the mat.") == Tally(1, 6)
    # Number words and British spellings are normalised on both sides.
    assert word_errors("twenty colours", "20 colors") == Tally(0, 2)
    assert char_errors("kat", "Cat!") == Tally(1, 3)
    # Insertions can push WER over 100%.
    assert word_errors("a b c", "a").score == 2.0


def test_exact_and_contains_match() -> None:
    assert exact_match("Dog.", "dog").value == 1
    assert exact_match("a dog", "dog").value == 0
    assert contains_match("It is a dog, I think.", "dog").value == 1
    assert contains_match("hotdog", "dog").value == 0  # whole words only
    assert contains_match("in C# major", "C major").value == 0
    assert contains_match("the key is C# major", "C♯ major").value == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The answer is (B) dog", 1),
        ("b", 1),
        ("(D)", 3),
        ("Dog.", 1),
        ("B. dog", 1),
        ("hot dog (C)", 2),  # the starter corpus's form: the option, then its letter
        ("Answer: D", 3),
        ("A. dog", 0),  # the letter comes first, even against the text that follows it
        ("It sounds like a hot dog stand", 2),  # "hot dog" contains "dog": the longer option wins
        ("The answer is a dog", 1),  # the article "a" is not option A
        ("A or B", None),  # two letters, no option text
        ("(A) and (C)", None),  # two labelled letters
        ("a cat or a bird", None),  # two option texts
        ("I hear rain", None),
        ("E", None),  # no option E
    ],
)
def test_parse_choice_on_tricky_answers(answer: str, expected: int | None) -> None:
    assert parse_choice(answer, CHOICES) == expected


def test_parse_choice_with_unlabelled_choices() -> None:
    assert parse_choice("c", ["violin", "piano", "flute"]) == 2
    assert parse_choice("Piano!", ["violin", "piano", "flute"]) == 1


def test_choice_match_scores_against_the_reference_option() -> None:
    assert choice_match("The answer is (B) dog", "B. dog", CHOICES).value == 1
    assert choice_match("dog", "(B)", CHOICES).value == 1
    assert choice_match("cat", "B. dog", CHOICES).value == 0
    assert choice_match("bird (D)", "bird (D)", CHOICES).value == 1
    assert choice_match("cat (A)", "bird (D)", CHOICES).value == 0
    with pytest.raises(ValueError, match="choices"):
        choice_match("b", "B", None)
    with pytest.raises(ValueError, match="names none of the choices"):
        choice_match("b", "a fish", CHOICES)


def test_yes_no() -> None:
    assert parse_yesno("Yes, it is.") == "yes"
    assert parse_yesno("No.") == "no"
    assert parse_yesno("It is, yes") == "yes"
    assert parse_yesno("maybe yes, maybe no") is None
    assert parse_yesno("I cannot tell") is None
    assert yesno_match("Nope", "no").value == 1
    assert yesno_match("I cannot tell", "no").value == 0
    with pytest.raises(ValueError, match="neither yes nor no"):
        yesno_match("yes", "a dog")


def test_two_clip_answers() -> None:
    assert parse_ordinal("The second one.") == "second"
    assert parse_ordinal("1st") == "first"
    assert parse_ordinal("the first is slower than the second") is None
    assert compare_match("Second.", "the second").value == 1
    assert compare_match("the first clip", "the second").value == 0
    assert compare_match("Yes, they are.", "yes").value == 1  # same-or-not questions are yes/no
    with pytest.raises(ValueError, match="neither yes/no nor the first/the second"):
        compare_match("first", "a dog")


def test_bleu_hand_worked() -> None:
    assert bleu("a dog barks loudly", "A dog barks loudly.").value == pytest.approx(1.0)
    # Every n-gram matches (smoothed: (0+1)/(0+1) for 4-grams); brevity penalty exp(1 - 4/3).
    assert bleu("a dog barks", "a dog barks loudly").value == pytest.approx(math.exp(1 - 4 / 3))
    # Unigrams 2/4, bigrams (1+1)/(3+1), trigrams (0+1)/(2+1), 4-grams (0+1)/(1+1); same length, no penalty.
    expected = (2 / 4 * 2 / 4 * 1 / 3 * 1 / 2) ** 0.25
    assert bleu("a dog sleeps quietly", "a dog barks loudly").value == pytest.approx(expected)
    assert bleu("birds sing", "a dog barks loudly").value == 0.0


def test_rouge_l_hand_worked() -> None:
    # LCS "dog barks" = 2; precision 2/2, recall 2/4; F1 = 2/3.
    assert rouge_l("dog barks", "a dog barks loudly").value == pytest.approx(2 / 3)
    assert rouge_l("barks dog", "dog barks").value == pytest.approx(0.5)
    assert rouge_l("rain", "a dog barks").value == 0.0


def test_keyword_recall_ignores_stop_words() -> None:
    # Reference keywords: dog, barks, car, passes; the answer names dog and car.
    assert keyword_recall("a dog and a car", "A dog barks while a car passes") == Tally(2, 4)


def test_task_table() -> None:
    assert task_metrics("asr") == ("wer", "cer")
    assert task_metrics("caption")[0] == "bleu"
    assert task_metrics("made_up_task") == ("exact", "contains")
    assert task_metrics("compare") == ("compare",) and task_metrics("meter") == ("exact", "contains")
    assert task_metrics(None) == ("exact", "contains")
    assert all(name in METRICS for names in TASK_METRICS.values() for name in names)
    scores = score_answer("key", "It is in C# major.", "C♯ major")
    assert scores == {"exact": Tally(0.0, 1), "contains": Tally(1.0, 1)}
