"""Prompting: the base model asked for its answer and a verbal confidence with the E.1 prompt. Unsupervised."""

from __future__ import annotations

from ud.backends.base import Backend
from ud.evaluate import predict
from ud.normalize import DEFAULT_EQUIVALENCE
from ud.prompts import DEFAULT_LABELS_5, Format

# E.1 is a chat prompt with lettered options and the five verbal levels (the answer text for open questions)
PROMPTING_FORMAT = Format("reasoning", "letter", reasoning=True)
PROMPTING_FORMAT_OPEN = Format("reasoning", "text", reasoning=True)
LABELS = DEFAULT_LABELS_5


def score(backend: Backend, questions: list[dict], max_new_tokens: int, batch_size: int,
          equivalence=DEFAULT_EQUIVALENCE, desc: str = "prompting") -> list[dict]:
    """One generation per question; the stated label's bin among LABELS (five fixed-width bins)."""
    fmt = PROMPTING_FORMAT if all(q.get("choices") for q in questions) else PROMPTING_FORMAT_OPEN
    preds = predict(backend, fmt, questions, LABELS, ud=False, baseline=True, max_new_tokens=max_new_tokens,
                    batch_size=batch_size, desc=desc, equivalence=equivalence)
    return [dict(p, set=q.get("set")) for p, q in zip(preds, questions)]
