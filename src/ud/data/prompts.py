"""Prompts and answer formats (paper Appendix E), and parsing of what models write back.

Three templates (params `prompt.template`):
  qa          "Question: …\\nAnswer:" and the option text as the continuation (no chat template). For small models
              this is where the signal is (SmolLM2-135M: option-text likelihood AUROC 0.65, letters at chance).
  qa_choices  the same with the options listed "A) …"; the answer is the option text or its letter.
  reasoning   the Appendix E.1 chat prompt: <reasoning>…</reasoning> <answer>…</answer> (reasoning optional),
              with the worked example given as an earlier chat turn (inline, small models ignore it).
  open        the Appendix E.1 open-answer chat prompt ("Answer … as briefly as possible and accurately."): the
              answer as plain text, the confidence after it in <confidence> tags.
The distilled model's prompt appends "Additionally state how confident you are in your answer." (Appendix E)
and its completion appends the verbalized confidence.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

LETTERS = string.ascii_uppercase
UD_INSTRUCTION = "Additionally state how confident you are in your answer."
DEFAULT_LABELS_5 = ["very low", "low", "medium", "high", "very high"]

_EXAMPLE_Q = "If each of Lisa's 7 chickens lays 6 eggs, how many eggs does Lisa have?"
_EXAMPLE_CHOICES = ["24", "35", "42", "50"]  # E.1's worked example
_EXAMPLE_REASONING = "This can be solved with multiplication. The answer is 7x6, or 42."

SAMPLING_INSTRUCTION = (
    "Answer the following question. Enclose concise reasoning in <reasoning> </reasoning> tags and the {what} "
    "of your FINAL answer in <answer> </answer> tags without any of your work. Your answer should not include words."
)
SAMPLING_INSTRUCTION_NO_REASONING = (
    "Answer the following question. Enclose the {what} of your FINAL answer in <answer> </answer> tags, "
    "without any other words."
)
OPEN_INSTRUCTION = "You are a helpful AI assistant. Answer the following question as briefly as possible and accurately."
OPEN_CONFIDENCE_INSTRUCTION = (
    "Enclose confidence in the answer ({labels}) after the answer in <confidence> </confidence> tags, like so: "
    "<confidence> {example} </confidence>."
)
PROMPTING_BASELINE_INSTRUCTION = (
    "Answer the following question and state confidence in the answer ({labels}). Enclose concise reasoning in "
    "<reasoning> </reasoning> tags, confidence in <confidence> </confidence> tags, and the {what} of your FINAL "
    "answer in <answer> </answer> tags without any of your work. Your answer should not include words."
)


def option_lines(choices: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices))


@dataclass(frozen=True)
class Format:
    """How a question is asked and how an answer (and confidence) is written, for one prompt template."""

    template: str = "qa"
    answer: str = "text"  # "text" | "letter"
    reasoning: bool = False
    instruction: str = UD_INSTRUCTION

    @classmethod
    def from_params(cls, prompt, instruction: str = UD_INSTRUCTION) -> Format:
        """From the `prompt` params section; `instruction` (annotate.instruction) asks the distilled model for its
        confidence."""
        return cls(prompt.template, prompt.answer, prompt.reasoning and prompt.template == "reasoning", instruction)

    @property
    def chat(self) -> bool:
        return self.template in ("reasoning", "open")

    @property
    def tagged(self) -> bool:
        """Answers are enclosed in <answer> tags (and must be, to count)."""
        return self.template == "reasoning"

    # ---- asking -------------------------------------------------------------------------------------------
    def messages(self, q: dict, ud: bool = False, labels: list[str] | None = None, baseline: bool = False):
        """Chat messages (reasoning and open templates). `baseline`: the E.1 prompting-baseline instruction."""
        if self.template == "open":  # E.1 (open): no worked example; UD and the baseline add the confidence tags
            instr = OPEN_INSTRUCTION
            if ud or baseline:
                labs = labels or DEFAULT_LABELS_5
                instr += " " + OPEN_CONFIDENCE_INSTRUCTION.format(labels=", ".join(labs), example=labs[-1])
            return [{"role": "user", "content": f"{instr}\n\n{self.question_block(q)}"}]
        what = "letter" if self.answer == "letter" else "text"
        if baseline:
            instr = PROMPTING_BASELINE_INSTRUCTION.format(labels=", ".join(labels or DEFAULT_LABELS_5), what=what)
        elif self.reasoning:
            instr = SAMPLING_INSTRUCTION.format(what=what)
        else:
            instr = SAMPLING_INSTRUCTION_NO_REASONING.format(what=what)
        if ud:
            instr = f"{instr} {self.instruction}"
        ex = {"question": _EXAMPLE_Q, "choices": _EXAMPLE_CHOICES}
        ex_label = (labels or DEFAULT_LABELS_5)[-1] if (ud or baseline) else None
        ex_answer = self.completion(ex, 2, reasoning=_EXAMPLE_REASONING if (self.reasoning or baseline) else None,
                                    label=ex_label)
        return [
            {"role": "user", "content": f"{instr}\n\n{self.question_block(ex)}"},
            {"role": "assistant", "content": ex_answer},
            {"role": "user", "content": self.question_block(q)},
        ]

    def question_block(self, q: dict) -> str:
        if q.get("choices") and self.template in ("qa_choices", "reasoning"):
            return f"Question: {q['question']}\n{option_lines(q['choices'])}"
        return f"Question: {q['question']}"

    def prompt(self, q: dict, tok=None, ud: bool = False, labels: list[str] | None = None,
               baseline: bool = False) -> str:
        """The exact prompt string fed to the model (chat template applied for `reasoning`)."""
        if self.chat:
            if tok is None or not getattr(tok, "chat_template", None):
                raise ValueError("prompt.template='reasoning' needs a tokenizer with a chat template")
            return tok.apply_chat_template(self.messages(q, ud, labels, baseline), tokenize=False,
                                           add_generation_prompt=True)
        head = self.question_block(q)
        if q.get("choices") and self.template == "qa_choices":
            head += "\nAnswer with the " + ("letter" if self.answer == "letter" else "text") + " of one option."
        if ud:
            head += f"\n{self.instruction}"
        return f"{head}\nAnswer:"

    # ---- answering ----------------------------------------------------------------------------------------
    def answer_text(self, q: dict, idx: int) -> str:
        """How option `idx` is written in the answer slot."""
        return LETTERS[idx] if self.answer == "letter" else q["choices"][idx]

    def completion(self, q: dict, idx: int | None = None, reasoning: str | None = None,
                   label: str | None = None, answer: str | None = None) -> str:
        ans = answer if answer is not None else self.answer_text(q, idx)
        if self.template == "open":
            return ans + (f" <confidence>{label}</confidence>" if label is not None else "")
        if self.chat:
            out = f"<reasoning>{reasoning.strip()}</reasoning> " if reasoning else ""
            out += f"<answer>{ans}</answer>"
            return out + (f" <confidence>{label}</confidence>" if label is not None else "")
        out = f" {ans}"
        return out + (f"\nConfidence: {label}" if label is not None else "")

    def stop_strings(self, ud: bool = False) -> list[str]:
        if self.template == "open":
            return ["</confidence>"] if ud else ["\n"]
        if self.chat:
            return ["</confidence>"] if ud else ["</answer>"]
        return ["\n\n"] if ud else ["\n"]

    def stop_after(self) -> list[str]:
        """The prompting baseline stops once both its answer and its confidence are closed, in either order (the
        E.1 instruction names the confidence first, its worked example the answer)."""
        return ["</answer>", "</confidence>"] if self.tagged else ["</confidence>"]

    @property
    def confidence_marker(self) -> str:
        """What precedes the confidence label in a completion."""
        return "<confidence>" if self.chat else "Confidence:"

    def label_continuation(self, label: str) -> str:
        """How a label (and what closes it) follows the confidence marker in a completion."""
        return f"{label}</confidence>" if self.chat else f" {label}"

    def split_confidence(self, text: str) -> tuple[str, str | None]:
        """(answer part, confidence part or None). Chat formats: the answer part is the text without the
        <confidence> span, wherever it stands."""
        if self.chat:
            m = re.search(r"<confidence>(.*?)(?:</confidence>|$)", text, flags=re.S | re.I)
            return (text[: m.start()] + text[m.end():] if m else text), (m.group(1) if m else None)
        m = re.search(r"\n\s*confidence\s*:(.*)", text, flags=re.S | re.I)
        return (text[: m.start()] if m else text), (m.group(1) if m else None)


def extract_reasoning(text: str) -> str | None:
    m = re.search(r"<reasoning>(.*?)</reasoning>", text, flags=re.S | re.I)
    return m.group(1).strip() if m and m.group(1).strip() else None


def parse_confidence(text: str | None, labels: list[str]) -> int | None:
    """Bin index of the confidence label in `text`, or None. Longest label first ("very high" before "high")."""
    if text is None:
        return None
    t = " ".join(re.sub(r"[^\w%\s.-]", " ", text.lower()).split())
    t = re.sub(r"\bconfidence\b", " ", t).strip()
    order = sorted(range(len(labels)), key=lambda i: -len(labels[i]))
    for i in order:  # exact first
        if t == labels[i].lower():
            return i
    for i in order:
        if re.search(rf"(?<![\w-]){re.escape(labels[i].lower())}(?![\w%-])", t):
            return i
    return None
