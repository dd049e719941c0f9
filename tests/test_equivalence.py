"""Open-answer equivalence: table-driven cases for the numeric and text normalizers, and their composition."""

from __future__ import annotations

import pytest

from ud.equivalence import chain, matches_gold, numeric_key, text_key

NUMERIC = [  # (answer, canonical key or None)
    ("10", "10"), ("$10", "10"), ("10.00", "10"), ("$10.00", "10"), ("10 dollars", "10"), ("ten", "10"),
    ("Ten dollars", "10"), ("ten.", "10"), ("The answer is 10", "10"), ("**10**", "10"), ("= 10", "10"),
    ("1,000", "1000"), ("1000", "1000"), ("$1,000.00", "1000"), ("one thousand", "1000"), ("12,345,678", "12345678"),
    ("0.5", "0.5"), (".5", "0.5"), ("1/2", "0.5"), ("50%", "0.5"), ("50 percent", "0.5"), ("a half", "0.5"),
    ("half", "0.5"), ("3/4", "0.75"), ("three quarters", "0.75"), ("1 1/2", "1.5"), ("1.50", "1.5"),
    ("-3", "-3"), ("-3.0", "-3"), ("+7", "7"), ("twenty-one", "21"), ("twenty one", "21"),
    ("one hundred and five", "105"), ("two thousand", "2000"), ("18 eggs", "18"), ("5 km", "5"),
    ("3.5 hours", "3.5"), ("12 feet", "12"), ("40 minutes", "40"), ("€20", "20"), ("20€", "20"), ("£7.50", "7.5"),
    ("1/3", "0.333333"), ("0.333333", "0.333333"), ("100%", "1"), ("0", "0"), ("zero", "0"), ("0.0", "0"),
    ("approximately 42", "42"), ("about 6 apples", "6"), ("42.", "42"),
    ("Paris", None), ("", None), ("ten apples and five pears", None), ("1/0", None), ("1,00", None),
    ("the cat", None), ("7 8", None),
]


@pytest.mark.parametrize("answer,key", NUMERIC)
def test_numeric_key(answer, key):
    assert numeric_key(answer) == key


def test_numeric_table_is_large_and_groups_the_papers_example():
    assert len(NUMERIC) >= 40
    forms = ["10", "$10", "10.00", "ten dollars", "Ten", "$10.00", "10 dollars"]
    assert {numeric_key(f) for f in forms} == {"10"}
    assert numeric_key("5") != numeric_key("6")


TEXT = [
    ("Paris", "paris"), ("paris.", "paris"), ("The Eiffel Tower", "eiffel tower"), ("  New   York ", "new york"),
    ("an apple", "apple"), ("A", None), ("U.S.A.", "usa"), ("Rock 'n' roll", "rock n roll"), ("“Quoted”", "quoted"),
    ("the the", None), ("Theatre", "theatre"),
]


@pytest.mark.parametrize("answer,key", TEXT)
def test_text_key(answer, key):
    assert text_key(answer) == key


def test_chain_prefers_numeric_then_text_and_matches_aliases():
    key = chain(["numeric", "text"])
    assert key("ten dollars") == key("$10") == "numeric:10"
    assert key("The Beatles") == key("beatles") == "text:beatles"
    assert key("10") != key("ten apples and five pears")
    assert matches_gold("the beatles!", ["Beatles", "The Fab Four"], key)
    assert matches_gold("fab four", ["Beatles", "The Fab Four"], key)
    assert not matches_gold("Rolling Stones", ["Beatles"], key)
    assert matches_gold("$18", ["18"], key) and not matches_gold("$19", ["18"], key)
    with pytest.raises(ValueError, match="unknown normalizer"):
        chain(["numeric", "nli-ish"])
