"""P(True) (Kadavath et al. 2022): the base model judges whether its proposed (greedy) answer is true; the score
is p("A") / (p("A") + p("B")) for the options "(A) True" / "(B) False" at the next token, few-shot with examples
from the calibration split (their greedy answers and whether they were right). As in Kadavath et al., the question
shows its answer options, then the model's own brainstormed samples ("Here are some brainstormed ideas:",
`baselines.ptrue.samples` of them; the paper compares with 20, 0 is the cheap variant without them), then the
proposed answer as letter and text ("B) Paris"), so the model judges an answer it can read. The few-shot prefix is
computed once and its KV cache shared by every question (Backend.next_token_logits)."""

from __future__ import annotations

import random

import torch
from tqdm import tqdm

from ud.data.prompts import LETTERS, option_lines
from ud.engines.base import Backend, Tokens, length_batches
from ud.metrics.scores import greedy_answer

TEMPLATE = ("Question: {question}\n{options}{ideas}Proposed Answer: {answer}\nIs the proposed answer:\n (A) True\n"
            " (B) False\nThe proposed answer is:")
IDEAS = "Here are some brainstormed ideas:\n{ideas}\n"


def proposed(q: dict, record: dict) -> str:
    """The proposed answer as the judge reads it: "B) Paris" for an option, else the answer's text."""
    key = record.get("answer_key")
    if q.get("choices") and isinstance(key, int) and 0 <= key < len(q["choices"]):
        return f"{LETTERS[key]}) {q['choices'][key]}"
    return record["text"]


def block(q: dict, answer: str, verdict: str | None = None, ideas: list[str] | None = None) -> str:
    brainstorm = IDEAS.format(ideas="\n".join(i.strip() for i in ideas)) if ideas else ""
    options = option_lines(q["choices"]) + "\n" if q.get("choices") else ""
    text = TEMPLATE.format(question=q["question"].strip(), options=options, ideas=brainstorm, answer=answer.strip())
    return text + (f" ({verdict})\n\n" if verdict else "")


def shots_text(examples: list[tuple[dict, str, bool]]) -> str:
    return "".join(block(q, a, "A" if ok else "B") for q, a, ok in examples)


def option_token_ids(tokens: Tokens) -> tuple[int, int]:
    """Token ids of "A" and "B" as they follow "(" in " (A)": the next token after the prompt's " (" ."""
    a = tokens.encode_continuation(" (A")[-1]
    b = tokens.encode_continuation(" (B")[-1]
    if a == b:
        raise ValueError("tokenizer maps A and B to the same token")
    return a, b


def prefix_ids(tokens: Tokens, prefix: str) -> list[int]:
    """The shared prefix's tokens without its last one: text after the prefix can retokenize the boundary
    ("\\n\\n" + "Question" -> "\\n", "\\n", "Question" for GPT-2-style BPE)."""
    return tokens.text_ids(prefix)[:-1] if prefix else []


def p_true(backend: Backend, prompts: list[str], prefix: list[int] | None = None) -> list[float]:
    """p(A) / (p(A) + p(B)) after each prompt + " (" (one forward pass per batch of prompts)."""
    a, b = option_token_ids(backend)
    logits = backend.next_token_logits([backend.text_ids(p + " (") for p in prompts], prefix)
    return torch.softmax(logits[:, [a, b]], dim=-1)[:, 0].tolist()


def fit(questions: dict[str, dict], calibration: list[dict], shots: int, seed: int) -> list[tuple[dict, str, bool]]:
    """The few-shot examples: greedy answers of calibration questions, half right, half wrong, in random order."""
    rng = random.Random(seed)
    right = [r for r in calibration if r["correct"]]
    wrong = [r for r in calibration if not r["correct"] and r["answer_key"] is not None]
    picked = rng.sample(right, min(len(right), (shots + 1) // 2)) + rng.sample(wrong, min(len(wrong), shots // 2))
    rng.shuffle(picked)
    return [(questions[r["qid"]], proposed(questions[r["qid"]], r), r["correct"]) for r in picked]


def score(backend: Backend, examples: list[tuple[dict, str, bool]], questions: list[dict], records: list[dict],
          ideas: dict[str, list[str]] | None = None, idea_cost: dict | None = None, batch_size: int = 8,
          desc: str = "p(true)") -> list[dict]:
    """The common answer record for each (question, greedy record); one extra forward pass per answer. `ideas`:
    each question's brainstormed samples (as text), whose cost per answer (`idea_cost`: samples,
    generated_tokens) is added to the answer's."""
    shots = shots_text(examples)
    ideas = ideas or {}
    prompts = [shots + block(q, proposed(q, r), ideas=ideas.get(q["id"])) for q, r in zip(questions, records)]
    prefix = prefix_ids(backend, shots)
    scores: list[float] = [0.0] * len(prompts)
    for idx in tqdm(length_batches(prompts, batch_size), desc=desc, unit="batch"):  # right padding: similar lengths
        for i, s in zip(idx, p_true(backend, [prompts[i] for i in idx], prefix)):
            scores[i] = s
    out = [greedy_answer(r, s, s, extra_forward_passes=1) for r, s in zip(records, scores)]
    if idea_cost:
        for rec in out:
            for field in ("samples", "generated_tokens"):
                rec[field] = None if rec[field] is None or idea_cost[field] is None else rec[field] + idea_cost[field]
    return out
