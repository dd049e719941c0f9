"""Prompting: the base model asked for its answer and a verbal confidence with the E.1 prompt. Unsupervised."""

from __future__ import annotations

from ud.data.prompts import DEFAULT_LABELS_5, Format
from ud.engines.base import Backend
from ud.method.evaluate import prompted_answers
from ud.method.normalize import DEFAULT_EQUIVALENCE
from ud.params import PromptingParams

LABELS = DEFAULT_LABELS_5


# reasoning=False: E.1's sampling prompt without reasoning, plus this line (a worked example shows both tags)
CONFIDENCE_INSTRUCTION = "State your confidence in the answer ({labels}) in <confidence> </confidence> tags."


def prompting_format(questions: list[dict], reasoning: bool = True) -> Format:
    """E.1: a chat prompt with lettered options and the five verbal levels. `reasoning` keeps its <reasoning> span
    (the paper's prompt); without it the model writes only the answer and the confidence, a few tokens instead of a
    paragraph. Open questions get E.1's open instruction with the confidence sentence and no worked example (the
    multiple-choice one lists options they do not have)."""
    if not all(q.get("choices") for q in questions):
        return Format("open", "text")
    what = "letter"
    if reasoning:
        return Format("reasoning", what, reasoning=True)
    return Format("reasoning", what, reasoning=False,
                  instruction=CONFIDENCE_INSTRUCTION.format(labels=", ".join(LABELS)))


def score(backend: Backend, questions: list[dict], settings: PromptingParams, equivalence=DEFAULT_EQUIVALENCE,
          desc: str = "prompting") -> list[dict]:
    """One generation per question; the stated label's bin among LABELS (five fixed-width bins)."""
    fmt = prompting_format(questions, settings.reasoning)
    # with reasoning: E.1's baseline instruction; without: the sampling instruction + CONFIDENCE_INSTRUCTION
    preds = prompted_answers(backend, fmt, questions, LABELS, settings, equivalence, desc=desc)
    return [dict(p, set=q.get("set")) for p, q in zip(preds, questions)]
