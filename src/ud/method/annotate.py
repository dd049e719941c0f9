"""Self-annotation (paper §3.3): answer sets + calibrator + binner -> SFT examples with verbal confidence.

SFT record (data/sft/train.jsonl): {qid, prompt, completion, correct, f, p, bin, label, index}
  prompt/completion are plain strings for non-chat formats; for the chat format `prompt` is the list of
  messages and `completion` one assistant message (TRL's conversational prompt-completion form).
  The loss is on the completion only. Where annotate.teach_answers leaves an example's answer untaught (incorrect
  answers under `correct`, every answer under `none`), the answer and the confidence marker end the prompt and the
  completion is the label alone: the example teaches the confidence of an answer, not the answer.
"""

from __future__ import annotations

import random

from ud.data.prompts import Format, extract_reasoning
from ud.errors import DataError
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator, points

RULES = ("fixed", "fixed_range", "quantile", "quantile_top")
TEACH_ANSWERS = ("all", "correct", "none")


def teaches_answer(teach: str, correct: bool) -> bool:
    """Whether an SFT example's loss covers its answer (annotate.teach_answers): all (the paper's), only the
    correct ones (an incorrect example teaches its low confidence without pulling the model toward the wrong
    answer), or none (only labels are taught: the base model's answers stay its own)."""
    if teach not in TEACH_ANSWERS:
        raise ValueError(f"annotate.teach_answers={teach!r}: expected one of {', '.join(TEACH_ANSWERS)}")
    return teach == "all" or (teach == "correct" and correct)


def pick_classes(aset: dict, incorrect: int, pick: str, rng: random.Random) -> list[dict]:
    """Every correct class plus up to `incorrect` incorrect ones (the most frequent, or random)."""
    correct = [c for c in aset["classes"] if c["correct"]]
    wrong = [c for c in aset["classes"] if not c["correct"]]
    if pick == "random":
        wrong = rng.sample(wrong, min(incorrect, len(wrong)))
    else:
        wrong = wrong[:incorrect]  # classes are sorted by frequency
    return correct + wrong


def taught(answer_sets: list[dict], incorrect: int, pick: str, seed: int) -> list[tuple[dict, list[dict]]]:
    """(answer set, the classes the SFT set teaches for it), in order: what build_examples annotates, and what
    quantile bins are cut over."""
    rng = random.Random(seed)
    return [(aset, pick_classes(aset, incorrect, pick, rng)) for aset in answer_sets]


def balance(examples: list[dict], seed: int) -> list[dict]:
    """The same number of examples, every label (that has any) equally often: each label's examples drawn without
    replacement up to its share, with replacement past it. Seeded; in label order, then the draw's order."""
    rng = random.Random(f"{seed}/balance")
    by_label: dict[str, list[dict]] = {}
    for e in examples:
        by_label.setdefault(e["label"], []).append(e)
    if not by_label:
        return []
    share, extra = divmod(len(examples), len(by_label))
    out = []
    for i, items in enumerate(by_label.values()):
        want = share + (i < extra)
        picked = rng.sample(items, min(want, len(items)))
        picked += rng.choices(items, k=want - len(picked))
        out += picked
    return out


def fewest_options(questions) -> int:
    """The fewest options of the multiple-choice questions (0: none has options): fixed_range's 1/k floor."""
    return min((len(q["choices"]) for q in questions if q.get("choices")), default=0)


def fit_binner(rule: str, bins: int, answer_sets: list[dict], calibrator: Calibrator, *, options: int,
               incorrect: int, pick: str, seed: int, labels: list[str] | None = None) -> Binner:
    """The one binning rule of every method, fitted on the calibration answers (param annotate.binning):
    fixed: equal width over [0, 1] (the paper's); fixed_range: equal width over [1/options, 1], since a top-of-k
    answer is at least 1/k; quantile: equal shares of the answers the SFT set teaches (correct and incorrect);
    quantile_top: equal shares of each question's top answer, the confidences the model will state.
    Each bin's `values` is the mean calibrated p of the calibration answers in it."""
    if rule == "quantile":
        fs = [c["f"] for _, classes in taught(answer_sets, incorrect, pick, seed) for c in classes]
        binner = Binner.quantile(bins, calibrator(fs), labels)
    elif rule == "quantile_top":
        binner = Binner.quantile(bins, calibrator([s["classes"][0]["f"] for s in answer_sets if s["classes"]]), labels)
    elif rule == "fixed_range":
        if options < 2:
            raise DataError("annotate.binning=fixed_range needs multiple-choice questions (the range is [1/options, 1])")
        binner = Binner.fixed_range(bins, 1 / options, labels)
    elif rule == "fixed":
        binner = Binner.fixed(bins, labels)
    else:
        raise ValueError(f"unknown binning rule {rule!r}; one of {RULES}")
    return binner.fit_values(calibrator(points(answer_sets)[0]))


def taught_labels(answer_sets: list[dict], calibrator: Calibrator, binner: Binner, incorrect: int, pick: str,
                  seed: int) -> dict[str, int]:
    """How often each label is taught (before any balancing): the SFT set's label histogram."""
    idx = [int(i) for _, classes in taught(answer_sets, incorrect, pick, seed) if classes
           for i in binner.index(calibrator([c["f"] for c in classes]))]
    return {lab: idx.count(i) for i, lab in enumerate(binner.labels)}


def build_examples(questions: dict[str, dict], answer_sets: list[dict], samples_by_qid: dict[str, list[dict]],
                   calibrator: Calibrator, binner: Binner, fmt: Format, incorrect: int, pick: str, seed: int,
                   tok=None, teach_answers: str = "all") -> list[dict]:
    rng = random.Random(f"{seed}/reasoning")  # which trace; the picks have their own stream (taught)
    out = []
    for aset, classes in taught(answer_sets, incorrect, pick, seed):
        q = questions[aset["qid"]]
        for c in classes:
            p = float(calibrator([c["f"]])[0])
            b = int(binner.index([p])[0])
            label = binner.labels[b]
            reasoning = None
            if fmt.reasoning:  # a randomly chosen reasoning trace among this answer's samples (§3.3)
                texts = {s["k"]: s["text"] for s in samples_by_qid.get(q["id"], [])}
                traces = [r for k in c.get("sample_ks", []) if (r := extract_reasoning(texts.get(k, "")))]
                reasoning = rng.choice(traces) if traces else None
            # open answers: the class's representative span (a random member, Appendix A.1); MC: the option
            completion = fmt.completion(q, c["index"], reasoning=reasoning, label=label, answer=c.get("answer"))
            if fmt.chat:
                prompt = fmt.messages(q, ud=True, labels=binner.labels)
                completion = [{"role": "assistant", "content": completion}]
            else:
                prompt = fmt.prompt(q, tok, ud=True, labels=binner.labels)
            if not teaches_answer(teach_answers, bool(c["correct"])):
                if fmt.chat:  # TRL's conversational form cannot end a prompt inside the assistant's message
                    raise ValueError("annotate.teach_answers other than 'all' needs a plain prompt (template qa or "
                                     "qa_choices), not a chat template")
                cut = completion.index(fmt.confidence_marker) + len(fmt.confidence_marker)
                prompt, completion = prompt + completion[:cut], completion[cut:]
            out.append({"qid": q["id"], "prompt": prompt, "completion": completion, "correct": bool(c["correct"]),
                        "f": c["f"], "p": p, "bin": b, "label": label, "index": c["index"]})
    return out
