import pytest

from ud.data.prompts import DEFAULT_LABELS_5, Format, extract_reasoning, parse_confidence

Q = {"id": "q", "question": "What is 7 x 6?", "choices": ["13", "36", "42", "48"], "answer": 2}


@pytest.mark.parametrize("text,expected", [
    ("very high", 4), (" High ", 3), ("HIGH.", 3), ("very low", 0), ("low", 1), ("medium", 2),
    ("my confidence is very high!", 4), ("high confidence", 3), ("", None), (None, None),
    ("highly uncertain", None), ("certain", None), ("very  high", 4),
])
def test_parse_confidence_five_labels(text, expected):
    assert parse_confidence(text, DEFAULT_LABELS_5) == expected


def test_parse_confidence_numeric_labels():
    labels = ["0-10%", "10-20%", "20-30%"]
    assert parse_confidence("10-20%", labels) == 1
    assert parse_confidence(" 0-10% ", labels) == 0
    assert parse_confidence("110-20%", labels) is None


def test_qa_format_roundtrip():
    fmt = Format("qa", "text")
    assert fmt.prompt(Q) == "Question: What is 7 x 6?\nAnswer:"
    assert fmt.prompt(Q, ud=True) == ("Question: What is 7 x 6?\nAdditionally state how confident you are in your "
                                      "answer.\nAnswer:")
    c = fmt.completion(Q, 2, label="high")
    assert c == " 42\nConfidence: high"
    ans, conf = fmt.split_confidence(c)
    assert ans == " 42" and parse_confidence(conf, DEFAULT_LABELS_5) == 3


def test_reasoning_format_messages_and_completion():
    fmt = Format("reasoning", "letter", reasoning=True)
    msgs = fmt.messages(Q, ud=True)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert "Additionally state how confident you are in your answer." in msgs[0]["content"]
    assert "<confidence>very high</confidence>" in msgs[1]["content"]
    assert msgs[2]["content"] == "Question: What is 7 x 6?\nA) 13\nB) 36\nC) 42\nD) 48"
    c = fmt.completion(Q, 2, reasoning="7 times 6", label="low")
    assert c == "<reasoning>7 times 6</reasoning> <answer>C</answer> <confidence>low</confidence>"
    ans, conf = fmt.split_confidence(c)
    assert conf == "low" and "<answer>C</answer>" in ans
    assert extract_reasoning(c) == "7 times 6"


def test_open_template_follows_appendix_e1():
    from ud.data.prompts import OPEN_INSTRUCTION, Format, parse_confidence

    fmt = Format("open", "text")
    q = {"id": "g/1", "question": "What is 4 * 8?", "choices": None, "answer": "32", "answers": None}
    (msg,) = fmt.messages(q)
    assert msg["content"] == f"{OPEN_INSTRUCTION}\n\nQuestion: What is 4 * 8?" and fmt.chat and not fmt.tagged
    (ud_msg,) = fmt.messages(q, ud=True)
    assert "in <confidence> </confidence> tags, like so: <confidence> very high </confidence>." in ud_msg["content"]
    assert fmt.completion(q, answer="32", label="high") == "32 <confidence>high</confidence>"
    answer, conf = fmt.split_confidence("$32 <confidence>high</confidence>")
    assert answer.strip() == "$32" and parse_confidence(conf, ["very low", "low", "medium", "high", "very high"]) == 3
    assert fmt.stop_strings(ud=True) == ["</confidence>"]
