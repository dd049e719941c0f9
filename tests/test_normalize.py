import pytest

from ud.method.normalize import answer_set, classify, extract_answer, match_option, norm_text

Q = {"id": "q1", "question": "What is 7 x 6?", "choices": ["13", "36", "42", "48"], "answer": 2}
Q_TEXT = {"id": "q2", "question": "Sky color?", "choices": ["blue", "dark blue", "red", "A"], "answer": 0}


@pytest.mark.parametrize("text,expected", [
    ("<reasoning>7x6</reasoning> <answer>C</answer>", 2),
    ("<answer> C) 42 </answer>", 2),
    ("<answer>(C)</answer>", 2),
    ("<answer>c.</answer>", 2),
    ("<answer>42</answer>", 2),
    ("<answer> 42. </answer>", 2),
    ("<answer>The answer is 42</answer>", 2),          # contains exactly one option text
    ("<answer>B</answer> then <answer>D</answer>", 3),  # the last complete tag wins
    ("<answer>C) 13</answer>", None),                   # letter and text disagree: invalid, not a guess
    ("<answer>Z</answer>", None),                       # letter out of range
    ("<answer></answer>", None),
    ("no tags at all, 42", None),                       # tags required for the reasoning format
    ("<answer>D", 3),                                   # unclosed tag (cut at max tokens)
    ("<answer>13 or 42</answer>", None),                # two options named: ambiguous
    ("", None),
])
def test_classify_tagged(text, expected):
    assert classify(text, Q, require_tags=True) == expected


@pytest.mark.parametrize("text,expected", [
    (" blue", 0),
    ("Blue!", 0),
    (" dark blue", 1),      # exact match beats the contained shorter option
    ("A", 3),               # an option whose text is "A" matches as text before as a letter
    ("red\n", 2),
    ("purple", None),
])
def test_classify_untagged_text(text, expected):
    assert classify(text, Q_TEXT, require_tags=False) == expected


def test_norm_text_and_extract():
    assert norm_text("  The   Sun's  light!! ") == "the sun s light"
    assert extract_answer("x <answer> a </answer>", require_tags=True) == "a"
    assert extract_answer("plain", require_tags=False) == "plain"
    assert extract_answer("plain", require_tags=True) is None
    assert match_option("", ["a"]) is None


def test_answer_set_counts_and_invalid():
    texts = ["<answer>C</answer>"] * 5 + ["<answer>A</answer>"] * 2 + ["garbage"] * 3 + ["<answer>C</answer>"] * 10
    samples = [{"k": k, "text": t} for k, t in enumerate(texts)]
    a = answer_set(Q, samples, n=10, require_tags=True)  # only the first 10 count
    assert a["n"] == 10 and a["invalid"] == 3
    assert [(c["key"], c["count"], c["f"], c["correct"]) for c in a["classes"]] == [
        ("C", 5, 0.5, True), ("A", 2, 0.2, False)]
    assert a["classes"][0]["sample_ks"] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        answer_set(Q, samples, n=21, require_tags=True)
