"""`ud sweep`: choose knobs on the validation split, never on test.

Each combination of the given values runs as a DVC experiment (`dvc exp run -S scored=validation -S key=value ...
evaluate normalize@validation`), so only the stages a knob reaches rerun, no baseline runs, and every experiment
stays in `dvc exp show`. After each one the sweep scores the answers written for the validation split and keeps one
row: the distilled model's and the teacher's binned AUROC (the teacher's is the ceiling the student imitates),
accuracy, the paired difference to the teacher, and the SFT label histogram. The rows go to `--out` (JSON; a later
sweep adds its rows to the same file), rendered as a table. `--baselines lexical,...` also runs those baseline
stages on validation and scores each by the row's bins, paired against the distilled model and against the
teacher: the reference a target is set against (under shift: lexical), measured on validation-side data.

`ceilings` needs no training: for each binning rule, number of bins and calibration method it fits the calibrator
and the bins on the calibration answers, and gives the teacher's binned AUROC on the validation split (the ceiling
the student would imitate) with the SFT label histogram the rule would teach. It reads the validation answers only.

`fit` tells the student's fit from its generalization: the trained model answers the first calibration questions
(the ones its SFT set was built from) and is scored there against the teacher on the same questions. A student that
matches its teacher there but not on validation does not generalize (more questions, regularization); one that
misses there too is underfit (more steps, capacity).

A sweep refuses to score the test split: `scored` cannot be swept or set, and every row is checked to come from the
validation split. The test split is scored once, by `dvc repro` with the chosen values written into params.yaml.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

from ud.errors import DataError, ParamError


def grid(settings: list[str]) -> list[dict[str, str]]:
    """Every combination of `key=v1,v2,...` settings, as {key: value} (values as given, parsed by DVC)."""
    axes = []
    for s in settings:
        key, sep, values = s.partition("=")
        if not sep or not key or not values:
            raise ParamError(f"-S {s!r}: expected key=value[,value...]")
        if key == "scored" or key.startswith("scored."):
            raise ParamError("a sweep never scores the test split: `scored` is not a knob to sweep (test is scored "
                             "once, with `dvc repro`, for the configuration chosen)")
        if key.startswith("prepare.test") or key.startswith("shift."):
            raise ParamError(f"-S {key}: a sweep never looks at the test split or a shift set")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


TARGETS = ("evaluate", "normalize@validation")  # what a row needs: the distilled model's and the teacher's answers
KNOBS = ("data.dataset", "prepare.calibration.questions", "bins", "incorrect", "n", "calibrate.method",
         "annotate.binning", "annotate.balance", "annotate.teach_answers", "train.epochs", "train.lr",
         "train.batch_size", "train.lora.r", "train.lora.layers", "evaluate.label_rule")


def knobs(p) -> dict:
    """The values a row ran with for the knobs a sweep chooses among (its config names only what it set)."""
    out = {}
    for dotted in KNOBS:
        v = p
        for part in dotted.split("."):
            v = getattr(v, part)
        out[dotted] = v
    return out


BASELINES = ("lexical", "pik", "ptrue", "semantic")  # the continuous baselines a row can score beside the student


def _scored(recs: dict[str, list[dict]], binner) -> dict:
    """The distilled model's and the teacher's binned AUROC and accuracy, and their paired difference; each baseline
    in `recs` binned by the same rule (as the metrics stage does), paired against both."""
    from ud.metrics.scores import paired, score_probabilities, score_verbal

    m = {name: (score_probabilities if name in BASELINES else score_verbal)(name, rs, binner)[0]
         for name, rs in recs.items()}
    binners = {"ud": binner, "teacher": binner, "continuous": binner,
               "semantic_k": next((r["k"] for r in recs.get("semantic", [])), None)}  # row() kept the default K
    vs_ud, vs_teacher = (paired(recs, binners, "validation", continuous=BASELINES, reference=ref)
                         for ref in ("ud", "teacher"))
    pair = vs_ud.get("teacher") or {}
    out = {"n": m["ud"]["n"], "ud_auroc": m["ud"]["auroc"], "teacher_auroc": m["teacher"]["auroc"],
           "teacher_auroc_raw": m["teacher"].get("auroc_raw"),
           "ud_accuracy": m["ud"]["accuracy"], "teacher_accuracy": m["teacher"]["accuracy"],
           "delta_vs_teacher": pair.get("delta"), "delta_ci": pair.get("ci"),
           "ud_auroc_by_label_rule": {rule: m["ud"].get(f"auroc_bin_{rule}") for rule in ("argmax", "expected")}}
    if names := [name for name in recs if name in BASELINES]:
        out["baselines"] = {name: {"n": m[name]["n"], "auroc": m[name]["auroc"], "auroc_raw": m[name]["auroc_raw"],
                                   "accuracy": m[name]["accuracy"], "ud_minus": vs_ud.get(name),
                                   "teacher_minus": vs_teacher.get(name)} for name in names}
    return out


def validation_sources() -> dict[str, str]:
    """{qid: dataset} of the validation questions when they come from more than one dataset (`ud mix`; MMLU's
    subjects are one), else {}."""
    from ud import paths
    from ud.tools.mix import dataset_of

    source = {q["id"]: dataset_of(q["source"]) for q in paths.questions("validation")}
    return source if len(set(source.values())) > 1 else {}


def row(config: dict[str, str], baselines: tuple[str, ...] = ()) -> dict:
    """The distilled model's and the teacher's binned AUROC, accuracy and paired difference on the validation split,
    scored from the answers the experiment wrote (eval/ud.jsonl, the teacher's answer sets) by the metrics stage's
    functions, and each of `baselines` from its eval file (semantic clustering at its default K). A validation split
    drawn from several sources (`ud mix`) is also scored per source (`by_source`), since a held-out source measures
    a shift and the in-domain part compares with rows scored on it alone."""
    from ud import io, paths
    from ud.baselines import teacher
    from ud.method.binning import Binner
    from ud.params import load
    from ud.metrics.scores import binned_score
    from ud.records import ANSWERS

    p = load()
    recs = {"ud": ANSWERS.read(paths.eval_file("ud")), "teacher": teacher.records("validation")}
    for name in baselines:
        recs[name] = [r for r in ANSWERS.read(paths.eval_file(name))
                      if name != "semantic" or r["k"] == p.baselines.semantic.default_k]
    for name in ("ud", *baselines):
        if sets := {r["set"] for r in recs[name]} - {"validation"}:
            raise ParamError(f"{paths.eval_file(name)} scores {sorted(sets)}, not validation: the sweep reads "
                             "validation answers only")
    binner = Binner.from_json(io.read_json(paths.BINNER))
    annotate = io.read_json(paths.METRICS / "annotate.json")
    out = {"config": config, "knobs": knobs(p), **_scored(recs, binner), "sft_labels": annotate["per_bin"],
           "ud_answers": {r["qid"]: [binned_score(r, binner), bool(r["correct"])] for r in recs["ud"]}}
    if source := validation_sources():
        out["by_source"] = {s: _scored({name: [r for r in rs if source.get(r["qid"]) == s]
                                        for name, rs in recs.items()}, binner)
                            for s in sorted(set(source.values()))}
    return out


def teacher_p(answer_sets: dict[str, dict], calibrator, records: list[dict]) -> list[float]:
    """The teacher's calibrated probability of the answer each record gave (0 for an answer it never gave): an
    option is matched by its index, an open answer by its normalized key."""
    out = []
    for r in records:
        f = {c["index"] if c.get("index") is not None else c["key"]: c["f"] for c in answer_sets[r["qid"]]["classes"]}
        out.append(float(calibrator([f.get(r["answer_key"], 0.0)])[0]))
    return out


def fit(questions: int) -> dict:
    """The distilled model (models/ud) on the first `questions` calibration questions, the ones it was trained on,
    and the teacher on the same questions: binned AUROC (both label rules), accuracy, and how closely the stated
    labels follow the teacher's calibrated probability of the answer the student gave (Spearman, same bin)."""
    import numpy as np
    from scipy.stats import spearmanr

    from ud import io, paths
    from ud.baselines import teacher
    from ud.data.prompts import Format
    from ud.engines.registry import build_backend
    from ud.method.binning import Binner
    from ud.method.calibrate import Calibrator
    from ud.method.evaluate import distilled_answers
    from ud.metrics.scores import score_verbal
    from ud.params import load
    from ud.records import ANSWER_SETS

    p = load()
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    binner = Binner.from_json(io.read_json(paths.BINNER))
    cal = Calibrator.from_json(io.read_json(paths.CALIBRATOR))
    qs = paths.questions("calibration")[:questions]
    asets = {a["qid"]: a for a in ANSWER_SETS.read(paths.answers_file("calibration"))}
    backend, _ = build_backend(p.model, chat=fmt.chat, trained=str(paths.UD_MODEL))
    preds = distilled_answers(backend, fmt, qs, binner, p.evaluate, p.normalize.equivalence,
                              desc="the student on its training questions")
    cost = {"samples": 0, "generated_tokens": 0, "extra_forward_passes": 0}
    taught = teacher.score([asets[q["id"]] for q in qs], cal, binner, cost)
    m_ud, m_teacher = score_verbal("ud", preds, binner)[0], score_verbal("teacher", taught, binner)[0]

    tp_all = teacher_p(asets, cal, preds)
    stated = [(r["raw"], p_t, r["bin"]) for r, p_t in zip(preds, tp_all)
              if r["raw"] is not None and r["bin"] is not None]
    raw, tp, b = (np.array(x) for x in zip(*stated)) if stated else (np.array([]),) * 3
    rho = float(spearmanr(raw, tp).statistic) if len(raw) > 2 else float("nan")  # nan: a constant column
    return {"knobs": knobs(p), "split": "calibration", "n": m_ud["n"], "ud_auroc": m_ud["auroc"],
            "ud_auroc_by_label_rule": {rule: m_ud.get(f"auroc_bin_{rule}") for rule in ("argmax", "expected")},
            "teacher_auroc": m_teacher["auroc"], "ud_accuracy": m_ud["accuracy"],
            "teacher_accuracy": m_teacher["accuracy"],
            "spearman_vs_teacher_p": rho if np.isfinite(rho) else None,
            "same_bin_as_teacher": float(np.mean(b == binner.index(tp))) if len(b) else None}


def run(settings: list[str], out: Path, dvc: str = "dvc", baselines: tuple[str, ...] = ()) -> list[dict]:
    """Run every combination as a DVC experiment on the validation split (only the stages the rows need, and the
    stages of `baselines`); the rows of `out` (kept from earlier sweeps, a configuration run again replaced) with
    this sweep's after them."""
    if unknown := sorted(set(baselines) - set(BASELINES)):
        raise ParamError(f"--baselines {','.join(unknown)}: a row scores {', '.join(BASELINES)}")
    configs = grid(settings)
    rows = [r for r in (json.loads(out.read_text()) if out.exists() else []) if r["config"] not in configs]
    for config in configs:
        args = [dvc, "exp", "run", "-S", "scored=validation"] + [a for k, v in config.items() for a in ("-S", f"{k}={v}")]
        args += [*TARGETS, *baselines]
        print("$ " + " ".join(args), flush=True)
        subprocess.run(args, check=True)
        rows.append(row(config, baselines))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")  # after each run: a killed sweep keeps what it finished
    return rows


def _config(config: dict) -> str:
    """A row's config as the tables print it."""
    return ", ".join(f"{k}={v}" for k, v in config.items())


def student_pairs(rows: list[dict], min_shared: float = 0.9) -> list[dict]:
    """The distilled models of two rows paired on the validation questions both answered (rows that kept their
    answers, `ud_answers`, and share at least `min_shared` of the smaller row's questions): AUROC(later row) −
    AUROC(earlier row), binned as stated, with a paired bootstrap CI. One configuration trained twice gives the
    run-to-run spread a knob's effect must clear."""
    from ud.metrics.scores import paired_auroc

    kept = [r for r in rows if r.get("ud_answers")]
    out = []
    for i, a in enumerate(kept):
        for b in kept[i + 1:]:
            qids = [q for q in a["ud_answers"] if q in b["ud_answers"]]
            if len(qids) < min_shared * min(len(a["ud_answers"]), len(b["ud_answers"])):
                continue
            pair = paired_auroc(tuple(zip(*(b["ud_answers"][q] for q in qids))),
                                tuple(zip(*(a["ud_answers"][q] for q in qids))))
            acc = [sum(r["ud_answers"][q][1] for q in qids) / len(qids) for r in (a, b)]
            out.append({"a": a["config"], "b": b["config"], "n": len(qids), "pair": pair,
                        "accuracy": acc})
    return out


def pairs_table(pairs: list[dict]) -> str:
    """`student_pairs`, as the docs print it."""
    lines = ["| row a | row b | n | UD auroc b − a [95% ci] | UD accuracy a / b |", "|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {_config(p['a'])} | {_config(p['b'])} | {p['n']} | {_vs(p['pair'])} | "
                     f"{p['accuracy'][0]:.3f} / {p['accuracy'][1]:.3f} |")
    return "\n".join(lines) + "\n"


def _vs(pair: dict | None) -> str:
    """A paired AUROC difference with its CI, as the tables print it."""
    if not pair or pair.get("delta") is None:
        return "-"
    ci = f" [{pair['ci'][0]:+.3f}, {pair['ci'][1]:+.3f}]" if pair.get("ci") else ""
    return f"{pair['delta']:+.3f}{ci}"


def _delta(m: dict) -> str:
    """A row's paired Δ vs the teacher with its CI."""
    return _vs({"delta": m["delta_vs_teacher"], "ci": m.get("delta_ci")})


def table(rows: list[dict]) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| config | n | UD auroc | UD auroc, argmax / expected label | teacher auroc | Δ vs teacher [95% ci] | "
             "UD acc | teacher acc | SFT labels |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cfg = _config(r["config"])
        delta = _delta(r)
        labels = " / ".join(str(v) for v in r["sft_labels"].values())
        rules = r.get("ud_auroc_by_label_rule") or {}
        lines.append(f"| {cfg} | {r['n']} | {f(r['ud_auroc'])} | {f(rules.get('argmax'))} / {f(rules.get('expected'))} "
                     f"| {f(r['teacher_auroc'])} | {delta} | {f(r['ud_accuracy'])} | {f(r.get('teacher_accuracy'))} "
                     f"| {labels} |")
    return "\n".join(lines) + "\n"


def source_table(rows: list[dict]) -> str:
    """The rows whose validation split has several sources (`ud mix`), scored per source."""
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    lines = ["| config | source | n | UD auroc | teacher auroc | Δ vs teacher [95% ci] | UD acc | teacher acc |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cfg = _config(r["config"])
        for s, m in (r.get("by_source") or {}).items():
            lines.append(f"| {cfg} | {s} | {m['n']} | {f(m['ud_auroc'])} | {f(m['teacher_auroc'])} | {_delta(m)} "
                         f"| {f(m['ud_accuracy'])} | {f(m['teacher_accuracy'])} |")
    return "\n".join(lines) + "\n"


def baseline_table(rows: list[dict]) -> str:
    """The rows that scored baselines (`--baselines`), per source where the validation split has several: each
    baseline binned by the row's rule, and the paired AUROC difference of the distilled model and of the teacher
    to it. The teacher's raw AUROC beside its binned one tells the teacher's signal from what its bins keep; the
    accuracies, that each method ranks its own answers (an AUROC over fewer right answers is not the same task)."""
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    lines = ["| config | source | baseline | n | baseline auroc (raw) | teacher auroc (raw) | UD auroc | "
             "UD − baseline [95% ci] | teacher − baseline [95% ci] | accuracy: baseline / teacher / UD |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cfg = _config(r["config"])
        parts = {"all": r, **(r.get("by_source") or {})}
        for source, m in parts.items():
            for name, b in (m.get("baselines") or {}).items():
                lines.append(f"| {cfg} | {source} | {name} | {b['n']} | {f(b['auroc'])} ({f(b['auroc_raw'])}) | "
                             f"{f(m['teacher_auroc'])} ({f(m.get('teacher_auroc_raw'))}) | {f(m['ud_auroc'])} | "
                             f"{_vs(b['ud_minus'])} | {_vs(b['teacher_minus'])} | {f(b['accuracy'])} / "
                             f"{f(m['teacher_accuracy'])} / {f(m['ud_accuracy'])} |")
                cfg = "〃"  # the row's config once
    return "\n".join(lines) + "\n"


def fit_table(rows: list[dict]) -> str:
    """`ud fit` rows: the student and the teacher on the student's own training questions."""
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    shown = ("calibrate.method", "annotate.binning", "bins", "annotate.balance", "incorrect", "annotate.teach_answers",
             "train.epochs")
    lines = ["| knobs | n | UD auroc, argmax / expected label | teacher auroc | UD acc | teacher acc | "
             "Spearman(UD confidence, teacher p) | same bin as teacher |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r["knobs"]
        rules = r["ud_auroc_by_label_rule"]
        lines.append(f"| {', '.join(f'{key}={k[key]}' for key in shown)} | {r['n']} | {f(rules.get('argmax'))} / "
                     f"{f(rules.get('expected'))} | {f(r['teacher_auroc'])} | {f(r['ud_accuracy'])} | "
                     f"{f(r['teacher_accuracy'])} | {f(r['spearman_vs_teacher_p'])} | {f(r['same_bin_as_teacher'])} |")
    return "\n".join(lines) + "\n"


def own_first_token(encode, labels: list[str]) -> bool:
    """Whether each label has its own token where the labels' tokenizations (after "Confidence: ") part: then the
    label distribution is read from the one decode alone (ud.method.evaluate.label_readout); otherwise a label path
    that chooses again off the decoded one costs a small pass. encode: text -> token ids, as a continuation."""
    seqs = [encode(" " + label) for label in labels]
    pos = 0
    while all(len(s) > pos for s in seqs) and len({s[pos] for s in seqs}) == 1:
        pos += 1
    return all(len(s) > pos for s in seqs) and len({s[pos] for s in seqs}) == len(seqs)


def ceilings(rules: list[str], bins: list[int], calibrations: list[str], *, incorrect: int, pick: str, seed: int,
             labels: list[str] | None = None, encode=None) -> list[dict]:
    """One row per (calibration, rule, bins): the teacher's binned AUROC on the validation split and the SFT label
    histogram, from the calibration and validation answer sets the pipeline wrote (no training, no test data).
    encode (the model's tokenizer, as a continuation): also whether each label has its own first token."""
    from ud import paths
    from ud.baselines import teacher
    from ud.method.annotate import fewest_options, fit_binner, taught_labels
    from ud.method.calibrate import Calibrator, points
    from ud.metrics.scores import score_verbal
    from ud.records import ANSWER_SETS

    need = [paths.answers_file("calibration"), paths.answers_file("validation"), paths.split_file("validation")]
    if missing := [str(f) for f in need if not Path(f).exists()]:
        raise DataError(f"missing {missing}: run `dvc repro normalize@calibration normalize@validation` first "
                        "(prepare.validation.questions > 0)")
    cal_sets, val_sets = (ANSWER_SETS.read(f) for f in need[:2])
    options = fewest_options(paths.questions("calibration"))
    source = validation_sources()
    f, y = points(cal_sets)
    rows = []
    for method in calibrations:
        cal = Calibrator(method).fit(f, y)
        for rule in rules:
            for b in bins:
                binner = fit_binner(rule, b, cal_sets, cal, options=options, incorrect=incorrect, pick=pick,
                                    seed=seed, labels=labels if labels and len(labels) == b else None)
                recs = teacher.score(val_sets, cal, binner, {})
                m, _ = score_verbal("teacher", recs, binner)
                stated = [r["bin"] for r in recs]
                rows.append({"calibrate.method": method, "annotate.binning": rule, "bins": b, "n": m["n"],
                             "teacher_auroc": m["auroc"], "teacher_auroc_ci": m.get("auroc_ci"),
                             "teacher_auroc_raw": m["auroc_raw"], "teacher_accuracy": m["accuracy"],
                             "edges": [round(e, 3) for e in binner.edges],
                             "validation_labels": {lab: stated.count(i) for i, lab in enumerate(binner.labels)},
                             "sft_labels": taught_labels(cal_sets, cal, binner, incorrect, pick, seed),
                             "own_first_token": own_first_token(encode, binner.labels) if encode else None})
                if source:  # several sources (`ud mix`): where the calibrator and the bins carry to a held-out one
                    rows[-1]["by_source"] = {}
                    for s in sorted(set(source.values())):
                        ms, _ = score_verbal("teacher", [r for r in recs if source.get(r["qid"]) == s], binner)
                        rows[-1]["by_source"][s] = {"n": ms["n"], "teacher_auroc": ms["auroc"],
                                                    "teacher_auroc_raw": ms["auroc_raw"]}
    return rows


def ceiling_table(rows: list[dict]) -> str:
    """One line per rule; where the validation split has several sources, the teacher's binned (raw) AUROC on each."""
    sources = sorted({s for r in rows for s in r.get("by_source") or {}})
    lines = ["| calibration | binning | bins | teacher binned AUROC [95% ci] | raw | "
             + "".join(f"{s}: binned (raw) | " for s in sources) + "labels part at one token | edges | SFT labels |",
             "|---|---|---|---|---|" + "---|" * len(sources) + "---|---|---|"]
    for r in rows:
        ci = r.get("teacher_auroc_ci")
        ci = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        edges = " ".join(f"{e:g}" for e in r["edges"][1:-1])
        labels = " / ".join(str(v) for v in r["sft_labels"].values())
        own = {True: "yes", False: "no"}.get(r.get("own_first_token"), "-")
        per = "".join(f"{m['teacher_auroc']:.3f} ({m['teacher_auroc_raw']:.3f}) | " if (m := (r.get("by_source") or {})
                      .get(s)) else "- | " for s in sources)
        lines.append(f"| {r['calibrate.method']} | {r['annotate.binning']} | {r['bins']} | {r['teacher_auroc']:.3f}{ci} "
                     f"| {r['teacher_auroc_raw']:.3f} | {per}{own} | {edges} | {labels} |")
    return "\n".join(lines) + "\n"
