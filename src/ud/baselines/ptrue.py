"""P(True) (Kadavath et al. 2022): the base model judges whether its proposed (greedy) answer is true; the score
is p("A") / (p("A") + p("B")) for the options "(A) True" / "(B) False" at the next token, few-shot with examples
from the calibration split (their greedy answers and whether they were right). No brainstormed samples."""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from ud.backends.hf import HFBackend

TEMPLATE = ("Question: {question}\nProposed Answer: {answer}\nIs the proposed answer:\n (A) True\n (B) False\n"
            "The proposed answer is:")


def block(q: dict, answer: str, verdict: str | None = None) -> str:
    text = TEMPLATE.format(question=q["question"].strip(), answer=answer.strip())
    return text + (f" ({verdict})\n\n" if verdict else "")


def shots_text(examples: list[tuple[dict, str, bool]]) -> str:
    return "".join(block(q, a, "A" if ok else "B") for q, a, ok in examples)


def option_token_ids(tok) -> tuple[int, int]:
    """Token ids of "A" and "B" as they follow "(" in " (A)": the next token after the prompt's " (" ."""
    a = tok(" (A", add_special_tokens=False)["input_ids"][-1]
    b = tok(" (B", add_special_tokens=False)["input_ids"][-1]
    if a == b:
        raise ValueError("tokenizer maps A and B to the same token")
    return a, b


@torch.no_grad()
def p_true(backend: HFBackend, prompts: list[str]) -> list[float]:
    """p(A) / (p(A) + p(B)) after each prompt + " (" (one forward pass per prompt)."""
    a, b = option_token_ids(backend.tok)
    out = []
    for prompt in prompts:
        ids = backend.tok(prompt + " (", return_tensors="pt")["input_ids"].to(backend.device)
        logits = backend.model(input_ids=ids).logits[0, -1].float()
        two = torch.log_softmax(logits[[a, b]], dim=0)
        out.append(float(two[0].exp()))
    return out


def run(backend: HFBackend, questions: list[dict], records: list[dict],
        examples: list[tuple[dict, str, bool]], desc: str = "p(true)") -> tuple[list[float], float]:
    """Scores for each (question, greedy record); returns (scores, seconds per answer)."""
    shots = shots_text(examples)
    prompts = [shots + block(q, r["text"]) for q, r in zip(questions, records)]
    t0 = time.perf_counter()
    scores = []
    for i in tqdm(range(len(prompts)), desc=desc, unit="q"):
        scores.extend(p_true(backend, prompts[i:i + 1]))
    return scores, (time.perf_counter() - t0) / max(1, len(prompts))
