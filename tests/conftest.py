"""Offline fixtures: a tiny random Llama with a BPE tokenizer trained here, and a handful of MC questions."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a stray hub lookup fails in ~2 s instead of retrying ~48 s
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QUESTIONS = [
    {"id": f"toy/{i}", "source": "toy", "question": q, "choices": c, "answer": a, "answers": None}
    for i, (q, c, a) in enumerate([
        ("What color is the sky on a clear day?", ["blue", "green", "red", "black"], 0),
        ("Which animal says moo?", ["cat", "cow", "dog"], 1),
        ("What is frozen water called?", ["steam", "ice", "sand", "glass"], 1),
        ("Which planet do we live on?", ["Mars", "Venus", "Earth", "Jupiter"], 2),
        ("What do plants need to make food?", ["sunlight", "plastic", "metal", "noise"], 0),
        ("How many legs does a spider have?", ["six", "eight", "ten", "four"], 1),
        ("What gas do humans breathe in to live?", ["oxygen", "helium", "neon", "argon"], 0),
        ("Which season is the coldest?", ["summer", "spring", "winter", "autumn"], 2),
        ("What is the opposite of hot?", ["warm", "cold", "wet", "dry"], 1),
        ("Which tool is used to cut paper?", ["hammer", "spoon", "scissors", "brush"], 2),
        ("Where do fish live?", ["in trees", "in water", "in sand", "in the sky"], 1),
        ("What melts when it is heated?", ["ice", "stone", "glass bottle", "iron bar"], 0),
        ("Which sense uses the ears?", ["sight", "hearing", "taste", "smell"], 1),
        ("What does a thermometer measure?", ["mass", "length", "temperature", "volume"], 2),
    ])
]


def _corpus() -> list[str]:
    from ud.data.prompts import PROMPTING_BASELINE_INSTRUCTION, SAMPLING_INSTRUCTION, UD_INSTRUCTION

    lines = [SAMPLING_INSTRUCTION, PROMPTING_BASELINE_INSTRUCTION, UD_INSTRUCTION,
             "<reasoning> </reasoning> <answer> </answer> <confidence> </confidence> Confidence: very low low "
             "medium high very high 0-10% 10-20% 90-100% A) B) C) D) E) Question: Answer:"]
    for q in QUESTIONS:
        lines.append(q["question"] + " " + " ".join(q["choices"]))
    return lines * 5


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A 2-layer random Llama (~100k params) and a byte-level BPE tokenizer with a ChatML template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHATML
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                      bos_token_id=fast.bos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    """(model, tokenizer) loaded through ud.engines.models like the stages do."""
    from ud.engines import models

    model, tok, _ = models.load(tiny_model_dir, device="cpu")
    return model, tok


@pytest.fixture()
def questions() -> list[dict]:
    return [dict(q) for q in QUESTIONS]


def dataset_folder(folder, questions: list[dict], splits: dict[str, slice]) -> str:
    """A local dataset folder in the question schema: one <split>.jsonl per split, holding questions[slice]."""
    folder.mkdir()
    for split, sl in splits.items():
        with open(folder / f"{split}.jsonl", "w") as fh:
            for q in questions[sl]:
                fh.write(json.dumps(q) + "\n")
    return str(folder)


@pytest.fixture()
def toy_jsonl(tmp_path) -> str:
    """The toy MC questions, split into train (8)/validation (2)/test (4) files."""
    return dataset_folder(tmp_path / "toy", QUESTIONS,
                          {"train": slice(0, 8), "validation": slice(8, 10), "test": slice(10, 14)})


def _teach(model_dir: str, examples, steps: int = 400, lr: float = 3e-3):
    """The tiny model taught (a few seconds of training) to answer (prompt, target) pairs drawn by `examples(rng)`."""
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    rng = random.Random(0)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        prompt_text, target_text = examples(rng, tok)
        prompt = tok(prompt_text, add_special_tokens=False)["input_ids"]
        target = tok(target_text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = torch.tensor([prompt + target])
        labels = torch.tensor([[-100] * len(prompt) + target])
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return model, tok


def _saved(model, tok, path) -> str:
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tagged_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The tiny model taught to answer in the Appendix E.1 tag format with a random letter, so the free estimator
    with reasoning has something valid to normalize."""
    from ud.data.prompts import LETTERS, Format

    fmt = Format("reasoning", "letter", reasoning=True)

    def example(rng, tok):
        q = rng.choice(QUESTIONS)
        letter = LETTERS[rng.randrange(len(q["choices"]))]
        return fmt.prompt(q, tok), f"<reasoning>it is {letter}</reasoning> <answer>{letter}</answer>"

    return _saved(*_teach(tiny_model_dir, example), tmp_path_factory.mktemp("tagged-llama"))


ARITHMETIC = [  # open questions; every question text once (no text may be in two splits)
    {"id": f"ar/{i}", "question": f"{i // 5 + 1} + {i % 5 + 2} =", "answer": str(i // 5 + 1 + i % 5 + 2)}
    for i in range(60)
]


@pytest.fixture()
def arith_jsonl(tmp_path) -> str:
    """An open-answer dataset folder (sums), split into train (10)/validation (4)/test (4) files."""
    return dataset_folder(tmp_path / "arith", ARITHMETIC,
                          {"train": slice(0, 10), "validation": slice(40, 44), "test": slice(50, 54)})


@pytest.fixture(scope="session")
def open_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The tiny model taught to answer the E.1 open prompt's sums with a number near the sum, so numeric answers
    have something to normalize."""
    from ud.data.prompts import Format

    fmt = Format("open")

    def example(rng, tok):
        q = rng.choice(ARITHMETIC)
        return fmt.prompt(q, tok), str(int(q["answer"]) + rng.choice([-1, 0, 0, 1]))

    return _saved(*_teach(tiny_model_dir, example), tmp_path_factory.mktemp("open-llama"))


@pytest.fixture(scope="session")
def tiny_nli_dir(tiny_model_dir, tmp_path_factory) -> str:
    """A random 3-way sequence classifier saved with NLI labels in config.id2label, standing in for an NLI model
    (the profiles' microsoft/deberta-large-mnli is a hub download)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, num_labels=3, pad_token_id=tok.pad_token_id,
                      id2label={0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
                      label2id={"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2})
    return _saved(LlamaForSequenceClassification(cfg), tok, tmp_path_factory.mktemp("tiny-nli"))
