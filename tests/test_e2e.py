"""End to end: the real stage scripts under `dvc repro` / `dvc exp run`, on a tiny model and 14 questions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", UD_THREADS="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def _run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def make_project(tmp: Path, model_dir: str, dataset: str, **overrides) -> Path:
    proj = tmp / "proj"
    proj.mkdir()
    for item in ("dvc.yaml", "stages", "src", "configs", ".gitignore"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, proj / item)
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["model"]["id"] = model_dir
    p["data"] = {"source": "jsonl", "dataset": dataset}
    p["prepare"] = {"calibration": {"from": "train", "questions": 8}, "validation": {"from": "validation", "questions": 2},
                    "test": {"from": "test", "questions": 4}}
    p["n"], p["sample"]["n"], p["sample"]["max_new_tokens"] = 6, 6, 24
    p["sample"]["block"] = 3
    p["train"].update(epochs=1, batch_size=4)
    p["evaluate"]["max_new_tokens"] = 24
    p["baselines"]["prompting"]["max_new_tokens"] = 16
    p["baselines"]["greedy"]["max_new_tokens"] = 16
    p["baselines"]["ptrue"]["shots"] = 2
    p["baselines"]["semantic"].update(k=[2, 4], default_k=4, timing_questions=2, shift=True)
    p["baselines"]["ptrue"]["shift"] = True  # every method on the shift set (the default skips these two for time)
    p["shift"].update(datasets=["openbookqa"], questions=4)
    for dotted, v in overrides.items():
        cur = p
        *head, last = dotted.split(".")
        for h in head:
            cur = cur[h]
        cur[last] = v
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run(["git", "init", "-q"], proj)
    _run(["dvc", "init", "-q"], proj)
    _run(["dvc", "config", "core.analytics", "false"], proj)
    _run(["git", "add", "-A"], proj)
    _run(["git", "commit", "-qm", "init"], proj)
    return proj


def _metrics(proj: Path, method: str) -> dict:
    return json.loads((proj / "metrics" / f"{method}.json").read_text())


ALL_STAGES = {"prepare", "sample@calibration", "sample@validation", "sample@test", "normalize@calibration",
              "normalize@validation", "normalize@test", "calibrate",
              "annotate", "train", "evaluate", "prompting", "greedy_calibration", "greedy_eval", "lexical", "pik",
              "ptrue", "semantic", "teacher_shift", "baselines", "metrics"}
METHODS = ("ud", "teacher", "prompting", "lexical", "ptrue", "pik", "semantic")


def _jsonl(path: Path) -> list[dict]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def _check_metrics_against_records(proj: Path) -> None:
    """Each method's metrics agree with its answer records, counted here independently."""
    binner = json.loads((proj / "models/binner.json").read_text())
    high = set(range(len(binner["labels"]) - round(0.4 * len(binner["labels"])), len(binner["labels"])))
    for method in ("ud", "prompting"):
        recs = [r for r in _jsonl(proj / f"data/eval/{method}.jsonl") if r["set"] == "test"]
        m = _metrics(proj, method)
        assert m["n"] == len(recs) == 4
        assert m["accuracy"] == sum(r["correct"] for r in recs) / 4
        assert m["invalid_rate"] == sum(r["answer_key"] is None for r in recs) / 4
        if method == "ud":
            assert m["high_pct"] == 100 * sum(r["bin"] in high for r in recs) / 4
    answers = _jsonl(proj / "data/answers/test.jsonl")
    teacher = _metrics(proj, "teacher")
    assert teacher["accuracy"] == sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in answers) / 4
    samples = _jsonl(proj / "data/samples/test.jsonl.gz")
    questions = {q["id"]: q for q in _jsonl(proj / "data/splits/test.jsonl")}
    sem = [r for r in _jsonl(proj / "data/eval/semantic.jsonl") if r["set"] == "test" and r["k"] == 4]
    for r in sem:  # the share of the largest option among the first 4 samples, counted from the raw texts
        q = questions[r["qid"]]
        texts = [s["text"].strip() for s in sorted(samples, key=lambda s: s["k"]) if s["qid"] == q["id"]][:4]
        counts = [texts.count(c) for c in q["choices"]]
        assert r["confidence"] == max(counts) / 4
    assert _metrics(proj, "semantic")["accuracy"] == sum(r["correct"] for r in sem) / 4
    # one binning rule: a continuous score's high % counts the distilled model's high bins of models/binner.json
    edges = binner["edges"]
    lexical = [r for r in _jsonl(proj / "data/eval/lexical.jsonl") if r["set"] == "test"]
    in_high = [max(i for i, e in enumerate(edges[:-1]) if r["confidence"] >= e) in high for r in lexical]
    assert _metrics(proj, "lexical")["high_pct"] == 100 * sum(in_high) / 4
    paired = _metrics(proj, "ud")["paired"]  # every other method, on the same 4 questions (None: one class)
    assert set(paired) <= set(METHODS) - {"ud"} and all(d["n"] == 4 for d in paired.values())


def _check_export_answers_as_evaluate(proj: Path) -> None:
    """`ud export` writes a folder plain transformers loads, and it gives evaluate's answers and labels."""
    from ud import params
    from ud.data.prompts import Format
    from ud.engines.hf import HFBackend
    from ud.method.binning import Binner
    from ud.method.evaluate import distilled_answers
    from ud.method.export import load_exported

    _run([sys.executable, "-m", "ud.cli", "export", "exported"], proj)
    out = proj / "exported"
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    card = (out / "README.md").read_text()
    p = params.load(proj / "params.yaml")
    assert "base_model: " in card and "| label | bin of P(correct)" in card and p.data.dataset in card
    model, tok = load_exported(out)
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    binner = Binner.from_json(json.loads((proj / "models/binner.json").read_text()))
    qs = [dict(q, set="test") for q in _jsonl(proj / "data/splits/test.jsonl")]
    got = distilled_answers(HFBackend(model, tok, chat=fmt.chat), fmt, qs, binner, p.evaluate,
                            p.normalize.equivalence)
    want = [r for r in _jsonl(proj / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert [(r["answer_key"], r["label"]) for r in got] == [(r["answer_key"], r["label"]) for r in want]


def test_choices_pipeline_reruns_only_what_changed(tmp_path, tiny_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl)
    out = _run(["dvc", "repro"], proj).stdout
    assert _ran(out) == ALL_STAGES
    for method in METHODS:
        m = _metrics(proj, method)
        readable = round(4 * (1 - m["confidence_invalid_rate"]))  # unreadable confidences stand for no probability
        assert m["n"] == 4 and sum(r["count"] for r in json.loads(
            (proj / f"metrics/plots/{method}_reliability.json").read_text())) == readable
    assert _metrics(proj, "ud")["invalid_rate"] == 0.0  # constrained decoding: always an option and a label
    _check_export_answers_as_evaluate(proj)
    assert set(_metrics(proj, "semantic")["by_k"]) == {"2", "4"}
    _check_metrics_against_records(proj)
    shift = json.loads((proj / "metrics/shift.json").read_text())
    assert list(shift) == ["openbookqa"] and set(shift["openbookqa"]) == {"ud", "teacher", "lexical", "pik", "ptrue",
                                                                          "semantic"}
    assert all(m["n"] == 4 for m in shift["openbookqa"].values())
    assert set(shift["openbookqa"]["ud"]["paired"]) <= {"teacher", "lexical", "pik", "ptrue", "semantic"}
    # the teacher under shift: the sample stage's estimator (N=6 choices) on the shift questions, normalized alike
    shift_sets = _jsonl(proj / "data/answers/shift/openbookqa.jsonl")
    assert [a["n"] for a in shift_sets] == [6] * 4
    assert all(sum(c["count"] for c in a["classes"]) + a["invalid"] == 6 for a in shift_sets)
    top_right = sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in shift_sets) / 4
    assert shift["openbookqa"]["teacher"]["accuracy"] == top_right
    assert shift["openbookqa"]["teacher"]["cost"]["samples_per_answer"] == 6
    summary = (proj / "metrics/summary.md").read_text()
    assert "P(IK) probe" in summary and "semantic clustering, K=2" in summary and "| openbookqa |" in summary
    samples = _jsonl(proj / "data/samples/calibration.jsonl.gz")
    assert len(samples) == 8 * 6 and {"qid", "k", "seed", "text", "n_tokens", "logprob_sum", "logprob_mean",
                                       "finish"} <= set(samples[0])
    meta = json.loads((proj / "data/samples/calibration.meta.json").read_text())
    assert meta["model"]["id"] == tiny_model_dir and "transformers" in meta["versions"]
    sft = _jsonl(proj / "data/sft/train.jsonl")
    answers = _jsonl(proj / "data/answers/calibration.jsonl")
    n_correct = sum(any(c["correct"] for c in a["classes"]) for a in answers)
    n_wrong = sum(min(1, sum(not c["correct"] for c in a["classes"])) for a in answers)
    assert len(sft) == n_correct + n_wrong  # incorrect: 1
    assert (proj / "models/ud/adapter_config.json").exists()

    # nothing changed: nothing reruns
    assert _ran(_run(["dvc", "repro"], proj).stdout) == set()
    _run(["git", "add", "-A"], proj)
    _run(["git", "commit", "-qm", "run"], proj)
    assert json.loads((proj / "timings/evaluate.json").read_text())["per_answer"]["test"] > 0  # seconds: kept apart
    # every stage run again changes no result: no output holds seconds, so dvc.lock and metrics/ stay as committed
    assert _ran(_run(["dvc", "repro", "-f"], proj).stdout) == ALL_STAGES
    assert _run(["git", "status", "--porcelain"], proj).stdout == ""

    # a sweep reruns exactly the stages whose work depends on the knob
    out = _run(["dvc", "exp", "run", "-S", "bins=3"], proj).stdout
    assert _ran(out) == {"annotate", "train", "evaluate", "metrics"}
    assert json.loads((proj / "models/binner.json").read_text())["labels"] == ["0-33%", "33-67%", "67-100%"]
    assert [r["label"] for r in json.loads((proj / "metrics/plots/lexical_reliability.json").read_text())] == \
        ["0-33%", "33-67%", "67-100%"]  # rebinned by the metrics stage, lexical itself not rerun

    out = _run(["dvc", "exp", "run", "-S", "incorrect=2"], proj).stdout
    assert _ran(out) == {"annotate", "train", "evaluate", "metrics"}

    out = _run(["dvc", "exp", "run", "-S", "n=3"], proj).stdout
    assert _ran(out) == {"normalize@calibration", "normalize@validation", "normalize@test", "teacher_shift",
                         "calibrate", "annotate", "train", "evaluate", "metrics"}
    assert all(a["n"] == 3 for a in _jsonl(proj / "data/answers/test.jsonl"))

    r = _run(["dvc", "exp", "run", "-S", "n=7"], proj, check=False)  # more than drawn: clear error, no compute
    assert r.returncode != 0 and "n=7: must be <= sample.n (6)" in r.stdout + r.stderr

    # a behaviour change in the calibrator's code makes every stage that imports it stale
    cal = proj / "src/ud/method/calibrate.py"
    cal.write_text(cal.read_text().replace("return np.clip(f, 0.0, 1.0)", "return np.clip(f, 0.0, 0.99)"))
    status = json.loads(_run(["dvc", "status", "--json"], proj).stdout)
    stale = {s for s, changes in status.items() if any("changed deps" in c for c in changes if isinstance(c, dict))}
    assert {"calibrate", "annotate", "metrics", "lexical"} <= stale  # metrics: the teacher
    assert not stale & {"train", "evaluate", "greedy_eval", "prompting"}  # they do not import it


def test_free_estimator_with_reasoning_end_to_end(tmp_path, tagged_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tagged_model_dir, toy_jsonl, **{
        "sample.estimator": "free", "prompt.template": "reasoning", "prompt.answer": "letter",
        "prompt.reasoning": True, "evaluate.max_new_tokens": 40, "train.max_length": 1024})
    _run(["dvc", "repro"], proj)
    answers = [json.loads(line) for line in open(proj / "data/answers/calibration.jsonl")]
    valid = sum(c["count"] for a in answers for c in a["classes"])
    invalid = sum(a["invalid"] for a in answers)
    assert valid + invalid == 8 * 6 and valid > 0  # every sample is either counted or counted invalid
    sft = [json.loads(line) for line in open(proj / "data/sft/train.jsonl")]
    content = sft[0]["completion"][0]["content"]
    assert re.fullmatch(r"<reasoning>.+</reasoning> <answer>[A-D]</answer> <confidence>[a-z ]+</confidence>", content)
    m = _metrics(proj, "ud")
    recs = [r for r in _jsonl(proj / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert m["n"] == 4 and m["invalid_rate"] == sum(r["answer_key"] is None for r in recs) / 4


def test_dvc_repro_through_an_openai_compatible_server(tmp_path, tagged_model_dir, toy_jsonl):
    """model.backend openai with the free estimator: every sample (sample@*, semantic's K) is drawn by the server,
    evaluate asks the server's `ud` (the trained adapter, which evaluate loads into the running server through the
    runtime LoRA endpoint: model.load_trained), and the
    stages that need logits run here under model.local_scoring. The distilled model's answers and labels are what
    the same adapter gives here (the label readout over HTTP is checked against vLLM's server in test_vllm.py)."""
    from openai_server import serve

    from ud.data.prompts import Format
    from ud.engines.hf import HFBackend
    from ud.method.binning import Binner
    from ud.method.evaluate import distilled_answers
    from ud.params import load

    adapter = tmp_path / "proj" / "models" / "ud"  # where make_project's pipeline trains it
    base, _ = HFBackend.load(tagged_model_dir, chat=True)
    server, url = serve(models={"tagged": base},
                        load_lora=lambda path: HFBackend.load(tagged_model_dir, chat=True, adapter=path)[0])
    try:
        proj = make_project(tmp_path, tagged_model_dir, toy_jsonl, **{
            "model.backend": "openai", "model.base_url": url, "model.served_name": "tagged",
            "model.served_trained": "ud", "model.load_trained": True, "model.local_scoring": True,
            "evaluate.constrain": False,
            "sample.estimator": "free", "prompt.template": "reasoning", "prompt.answer": "letter",
            "prompt.reasoning": True, "evaluate.max_new_tokens": 40, "train.max_length": 1024})
        _run(["dvc", "repro"], proj)
        _run(["ud", "validate"], proj)
        asked = dict(server.asked)
        assert server.loras == {"ud": str(adapter.resolve())}
    finally:
        server.shutdown()
    for split in ("calibration", "test"):
        assert json.loads((proj / f"data/samples/{split}.meta.json").read_text())["backend"] == "openai"
    # every sample of the calibration and test splits (6 each) came over HTTP, and evaluate's generations and label
    # readouts (4 test questions, 4 shift questions) too
    assert asked["tagged"] >= (8 + 4 + 2) * 6 and asked["ud"] >= 8
    for method in ("ud", "teacher", "lexical", "pik", "ptrue", "prompting", "semantic"):
        assert _metrics(proj, method)["n"] == 4
    p = load(proj / "params.yaml")
    here, _ = HFBackend.load(tagged_model_dir, chat=True, adapter=str(adapter))
    binner = Binner.from_json(json.loads((proj / "models/binner.json").read_text()))
    qs = _jsonl(proj / "data/splits/test.jsonl")
    want = distilled_answers(here, Format.from_params(p.prompt, p.annotate.instruction), qs, binner, p.evaluate,
                             p.normalize.equivalence)
    got = [r for r in _jsonl(proj / "data/eval/ud.jsonl") if r["set"] == "test"]
    assert [(r["answer_key"], r["label"]) for r in got] == [(r["answer_key"], r["label"]) for r in want]
    for a, b in zip(got, want):
        if b["label_probs"] is not None:
            assert a["label_probs"] == pytest.approx(b["label_probs"], abs=1e-3)


def test_bad_params_stop_before_any_compute(tmp_path, tiny_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl, bins=1)
    r = _run(["dvc", "repro"], proj, check=False)
    assert r.returncode != 0 and "bins=1: must be >= 2" in r.stdout + r.stderr
    assert not (proj / "data/splits/calibration.jsonl").exists()
    p = yaml.safe_load((proj / "params.yaml").read_text())
    p["bins"], p["model"]["id"] = 5, "no-such-model"
    (proj / "params.yaml").write_text(yaml.safe_dump(p))
    r = _run(["dvc", "repro"], proj, check=False)
    assert r.returncode != 0 and "model.id='no-such-model'" in r.stdout + r.stderr


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_sample_stage_resumes_and_raising_n_tops_up(tmp_path, tiny_model_dir, toy_jsonl):
    """kill -9 mid-sample, `dvc repro`: it resumes from the committed units and the file equals an uninterrupted
    run's byte for byte; raising sample.n computes only the new blocks and equals a fresh run at that N."""
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl, **{"sample.chunk": 1, "sample.block": 1})
    _run(["dvc", "repro", "prepare"], proj)
    cache = proj / "data/cache/samples/calibration"
    units = lambda: list(cache.glob("*/c*-b*.jsonl"))  # noqa: E731
    proc = subprocess.Popen([sys.executable, "stages/sample.py", "calibration"], cwd=proj, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not units() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    done = len(units())
    assert 1 <= done < 8 * 6, done  # 8 questions x 6 blocks of 1
    _run(["dvc", "repro", "sample@calibration"], proj)
    run = json.loads((proj / "timings/sample@calibration.json").read_text())  # what this run did
    assert run["units"]["from_cache"] >= done and run["units"]["computed"] + run["units"]["from_cache"] == 48
    samples = proj / "data/samples/calibration.jsonl.gz"
    resumed = _sha(samples)
    fresh_start(proj)
    _run(["dvc", "repro", "-f", "sample@calibration"], proj)
    assert _sha(samples) == resumed

    p = yaml.safe_load((proj / "params.yaml").read_text())
    p["sample"]["n"] = 9
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run(["dvc", "repro", "sample@calibration"], proj)
    run = json.loads((proj / "timings/sample@calibration.json").read_text())  # what this run did
    assert run["units"] == {"computed": 8 * 3, "from_cache": 48, "redone": []}
    topped = _sha(samples)
    fresh_start(proj)
    _run(["dvc", "repro", "-f", "sample@calibration"], proj)
    assert _sha(samples) == topped != resumed

    # a clone that has only the final file (dvc pull) and no cache: raising N seeds the cache from it and tops up
    shutil.rmtree(proj / "data/cache")
    p["sample"]["n"] = 10
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run(["dvc", "repro", "sample@calibration"], proj)
    run = json.loads((proj / "timings/sample@calibration.json").read_text())  # what this run did
    assert run["units"] == {"computed": 8, "from_cache": 72, "redone": []}


def fresh_start(proj: Path) -> None:
    shutil.rmtree(proj / "data/cache")
    for f in (proj / "data/samples").glob("calibration.*"):
        f.unlink()


def test_open_answer_pipeline_end_to_end(tmp_path, tiny_model_dir, arith_jsonl):
    """Open answers through every stage: free samples, numeric normalization, SFT targets from the clusters, the
    distilled model and all baselines judged by the same normalizers; no domain-shift datasets."""
    proj = make_project(tmp_path, tiny_model_dir, arith_jsonl, **{
        "sample.estimator": "free", "sample.max_new_tokens": 6, "normalize.equivalence": ["numeric", "last_number"],
        "evaluate.constrain": False, "baselines.greedy.constrain": False, "shift.datasets": [],
        "prepare.calibration": {"from": "train", "questions": 10}})
    out = _run(["dvc", "repro"], proj).stdout
    assert _ran(out) == ALL_STAGES
    answers = [json.loads(line) for line in open(proj / "data/answers/calibration.jsonl")]
    assert len(answers) == 10
    for a in answers:
        assert sum(c["count"] for c in a["classes"]) + a["invalid"] == 6
        assert all(c["index"] is None and c["key"].startswith("number:") for c in a["classes"])
    sft = [json.loads(line) for line in open(proj / "data/sft/train.jsonl")]
    for e in sft:  # the target is a cluster member's answer text, then the confidence
        assert re.fullmatch(r" .+\nConfidence: (very low|low|medium|high|very high)", e["completion"], re.S)
    for method in METHODS:
        assert _metrics(proj, method)["n"] == 4
    assert json.loads((proj / "metrics/shift.json").read_text()) == {}
    assert "Domain shift" not in (proj / "metrics/summary.md").read_text()
    assert _ran(_run(["dvc", "repro"], proj).stdout) == set()


def test_sweep_scores_the_validation_split_one_experiment_per_combination(tmp_path, tiny_model_dir, toy_jsonl):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl)
    out = _run([sys.executable, "-m", "ud.cli", "sweep", "-S", "bins=3,5", "--out", "sweeps/bins.json"], proj).stdout
    rows = json.loads((proj / "sweeps/bins.json").read_text())
    assert [r["config"] for r in rows] == [{"bins": "3"}, {"bins": "5"}]
    assert all(r["n"] == 2 for r in rows)  # the 2 validation questions, never the 4 of test
    assert [len(r["sft_labels"]) for r in rows] == [3, 5]
    assert "| bins=3 | 2 |" in out and "| bins=5 | 2 |" in out
    evaluated = {r["set"] for r in _jsonl(proj / "data/eval/ud.jsonl")}
    assert evaluated == {"validation"}  # no test or shift question was answered
    assert not (proj / "data/eval/lexical.jsonl").exists() and not (proj / "metrics/ud.json").exists()  # no baseline
    out = _run([sys.executable, "-m", "ud.cli", "ceilings", "--bins", "3", "--calibration", "none,isotonic"], proj).stdout
    rows = json.loads((proj / "sweeps/ceilings.json").read_text())
    assert len(rows) == 2 * 4 and all(r["n"] == 2 and sum(r["validation_labels"].values()) == 2 for r in rows)
    assert "| isotonic | quantile_top | 3 |" in out
    _run([sys.executable, "-m", "ud.cli", "sweep", "-S", "bins=4", "--out", "sweeps/bins.json"], proj)
    assert [r["config"] for r in json.loads((proj / "sweeps/bins.json").read_text())] == [
        {"bins": "3"}, {"bins": "5"}, {"bins": "4"}]  # a later sweep adds its rows
    exps = _run(["dvc", "exp", "show", "--json"], proj).stdout
    assert exps.count('"scored": "validation"') >= 3  # each combination is a DVC experiment
    _run([sys.executable, "-m", "ud.cli", "fit", "--questions", "3"], proj)
    fit = json.loads((proj / "sweeps/fit.json").read_text())
    assert len(fit) == 1 and fit[0]["n"] == 3 and fit[0]["split"] == "calibration" and fit[0]["knobs"]["bins"] == 4
    first = [json.loads(line)["id"] for line in open(proj / "data/splits/calibration.jsonl")][:3]
    sets = {a["qid"]: a for a in _jsonl(proj / "data/answers/calibration.jsonl")}
    assert fit[0]["teacher_accuracy"] == pytest.approx(  # the teacher scored on the same (training) questions
        sum(bool(sets[q]["classes"]) and sets[q]["classes"][0]["correct"] for q in first) / 3)


def profile_at_toy_scale(proj: Path, name: str, model_dir: str, dataset: str, nli_model: str | None = None) -> dict:
    """params.yaml = the profile as `ud profile` composes it, with only the scale changed: the tiny model, the toy
    dataset, a few questions, N (and semantic clustering's K within it), the tokens a toy answer needs and the
    training steps; and, offline, a tiny random NLI model for the profile's hub one (`nli_model`). Every other
    setting (estimator, prompt and reasoning, normalizers and clustering, calibration, binning, label rule, full SFT
    or LoRA, baselines, shift datasets) is the profile's."""
    from ud.params import compose, render

    p = compose(yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text()) or {})
    p["model"]["id"] = model_dir
    p["data"] = {"source": "jsonl", "dataset": dataset}
    p["prepare"] = {"calibration": {"from": "train", "questions": 8},
                    "validation": {"from": "validation", "questions": 2}, "test": {"from": "test", "questions": 4}}
    p["n"], p["sample"]["n"] = min(p["n"], 6), min(p["sample"]["n"], 6)
    p["sample"]["block"] = min(p["sample"]["block"], 3)
    sem = p["baselines"]["semantic"]
    sem.update(k=[k for k in sem["k"] if k <= 6] or [6], timing_questions=2)
    sem["default_k"] = min(sem["default_k"], max(sem["k"]))
    for section in (p["evaluate"], p["baselines"]["prompting"]):
        section["max_new_tokens"] = min(section["max_new_tokens"], 48)
    p["train"].update(epochs=1, batch_size=4)
    p["shift"]["questions"] = 4
    if nli_model and p["normalize"]["cluster"] == "nli":
        p["normalize"]["nli"]["model"] = nli_model
    (proj / "params.yaml").write_text(render(p, f"# {name} at toy scale"))
    return p


OPEN_PROFILES = ("paper-gsm8k", "triviaqa")


@pytest.mark.parametrize("name", ["cpu-large", "paper-mmlu", "paper-socialiqa", *OPEN_PROFILES])
def test_profile_end_to_end_at_toy_scale(name, tmp_path, tiny_model_dir, tagged_model_dir, toy_jsonl, open_model_dir,
                                         arith_jsonl, tiny_nli_dir):
    """A profile as kept or as a GPU user will run it, end to end on this CPU: every metrics file, every shift set,
    and `ud validate` passes. cpu-large: the exact estimator, isotonic calibration, 10 fixed bins with balanced SFT
    labels, LoRA on the top layers. paper-mmlu / paper-socialiqa: N free samples with E.1's reasoning, full SFT,
    384-token answers (48 here), other datasets as shift sets. paper-gsm8k / triviaqa: open answers (E.1 open prompt),
    numeric or text keys joined by NLI clustering, full SFT. The tiny model learns nothing; the tagged one writes
    E.1's tags and the open one writes numbers, so every profile has answers to read. Not honoured here: the model
    and the scale, and the hub NLI model (microsoft/deberta-large-mnli) of the open profiles, replaced by a tiny
    random classifier with NLI labels (the same code path: AutoModelForSequenceClassification, id2label)."""
    if name in OPEN_PROFILES:
        model, data = open_model_dir, arith_jsonl
    else:
        model, data = (tagged_model_dir if "paper" in name else tiny_model_dir), toy_jsonl
    proj = make_project(tmp_path, model, data)
    p = profile_at_toy_scale(proj, name, model, data, nli_model=tiny_nli_dir)
    _run(["dvc", "repro"], proj)
    for method in METHODS:
        assert _metrics(proj, method)["n"] == 4 and _metrics(proj, method)["split"] == "test"
    shift = json.loads((proj / "metrics/shift.json").read_text())
    assert sorted(shift) == sorted(p["shift"]["datasets"]) and all(m["n"] == 4 for s in shift.values() for m in s.values())
    _run([sys.executable, "-m", "ud.cli", "validate"], proj)
    answers = _jsonl(proj / "data/answers/calibration.jsonl")
    if name == "cpu-large":
        assert all(c["count"] is None for a in answers for c in a["classes"])  # exact: probabilities, nothing counted
        assert abs(sum(c["f"] for c in answers[0]["classes"]) - 1.0) < 1e-6
        cost = _metrics(proj, "teacher")["cost"]  # exact: one prefill, no samples
        assert (cost["extra_forward_passes_per_answer"], cost["samples_per_answer"]) == (1.0, 0.0)
        out = _run([sys.executable, "-m", "ud.cli", "ceilings", "--calibration", "none"], proj).stdout
        assert "| none | quantile | 5 |" in out and len(json.loads((proj / "sweeps/ceilings.json").read_text())) == 8
    else:
        assert all(a["n"] == 6 for a in answers) and not (proj / "models/ud/adapter_config.json").exists()  # full SFT
        assert sum(a["invalid"] for a in answers) < 6 * 8  # the tagged / open model's answers are read
    if name in OPEN_PROFILES:
        keys = {c["key"].split(":")[0] for a in answers for c in a["classes"]}
        assert keys <= ({"number"} if name == "paper-gsm8k" else {"text"}) and keys
        completion = _jsonl(proj / "data/sft/train.jsonl")[0]["completion"][0]["content"]
        assert re.fullmatch(r".+ <confidence>(very low|low|medium|high|very high)</confidence>", completion)
    elif "paper" in name:
        assert "<reasoning>" in _jsonl(proj / "data/sft/train.jsonl")[0]["completion"][0]["content"]
