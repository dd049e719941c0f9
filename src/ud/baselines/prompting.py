"""Prompting: the base model asked for its answer and a verbal confidence with the E.1 prompt."""

from __future__ import annotations

from ud.backends.hf import HFBackend
from ud.binning import Binner
from ud.evaluate import predict, score
from ud.normalize import DEFAULT_EQUIVALENCE
from ud.prompts import DEFAULT_LABELS_5, Format

# E.1 is a chat prompt with lettered options and the five verbal levels (the answer text for open questions)
PROMPTING_FORMAT = Format("reasoning", "letter", reasoning=True)
PROMPTING_FORMAT_OPEN = Format("reasoning", "text", reasoning=True)


def run(backend: HFBackend, questions: list[dict], max_new_tokens: int, batch_size: int,
        equivalence=DEFAULT_EQUIVALENCE):
    binner = Binner.fixed(5, DEFAULT_LABELS_5)
    fmt = PROMPTING_FORMAT if all(q.get("choices") for q in questions) else PROMPTING_FORMAT_OPEN
    preds = predict(backend, fmt, questions, binner.labels, ud=False, baseline=True,
                    max_new_tokens=max_new_tokens, batch_size=batch_size, desc="prompting", equivalence=equivalence)
    metrics, rel = score("prompting", preds, binner)
    return metrics, rel, preds
