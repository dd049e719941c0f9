"""Domain shift (paper §4.2, Table 2): the distilled model and the supervised baselines (lexical, P(IK)), fitted
in-domain, evaluated on test questions from other datasets. One DVC stage per dataset in `shift.datasets`."""

from __future__ import annotations

import random

from ud import io
from ud.pipeline.paths import BINNER, LEXICAL_CALIBRATOR, METRICS, PIK_PROBE, PLOTS, SHIFT_DIR, UD_MODEL


def folder(dataset: str):
    return SHIFT_DIR / dataset.replace(":", "_")


def prepare(p: dict, dataset: str) -> dict:
    from ud import sources

    sh = p["shift"]
    split = (sh.get("split_of") or {}).get(dataset, sh["split"])
    sources.check_dataset(sh["source"], dataset)
    qs = sources.load_questions(sh["source"], dataset, split)
    random.Random(f"{p['seed']}:shift:{dataset}").shuffle(qs)
    qs = [dict(q, split="test") for q in qs[: sh["size"]]]
    io.write_jsonl(folder(dataset) / "test.jsonl", qs)
    print(f"shift {dataset}: {len(qs)} test questions from its {split} split")
    return {"questions": len(qs)}


def evaluate(p: dict, dataset: str) -> dict:
    from safetensors.numpy import load_file

    from ud.baselines.greedy import mean_token_probability
    from ud.baselines.pik import Probe
    from ud.baselines.scores import score_method
    from ud.binning import Binner
    from ud.calibrate import Calibrator
    from ud.evaluate import predict, score
    from ud.pipeline.baselines import greedy
    from ud.prompts import Format
    from ud.train import load_trained

    d = folder(dataset)
    qs = list(io.read_jsonl(d / "test.jsonl"))
    # base model: greedy answers + features, then the in-domain lexical calibrator and P(IK) probe
    greedy.run(p, f"shift:{dataset}", qs, out=(d / "greedy.jsonl", d / "features.safetensors"))
    recs = list(io.read_jsonl(d / "greedy.jsonl"))
    cal = Calibrator.from_json(io.read_json(LEXICAL_CALIBRATOR))
    raw = [mean_token_probability(r) for r in recs]
    results = {"lexical": score_method("lexical", recs, cal(raw), raw, p["bins"], greedy.cost(recs))}
    probe = Probe.from_json(io.read_json(PIK_PROBE))
    probs = probe(load_file(str(d / "features.safetensors"))["hidden"])
    results["pik"] = score_method("pik", recs, probs, probs, p["bins"], greedy.cost(recs, extra_passes=1))
    # the distilled model, exactly as in `evaluate`
    fmt = Format.from_params(p)
    from ud.backends.hf import HFBackend

    model, tok, _ = load_trained(str(UD_MODEL))
    binner = Binner.from_json(io.read_json(BINNER))
    e = p["evaluate"]
    preds = predict(HFBackend(model, tok, chat=fmt.chat), fmt, qs, binner.labels, ud=True, constrain=e["constrain"],
                    max_new_tokens=e["max_new_tokens"], batch_size=e["batch_size"], desc=f"evaluate ud on {dataset}",
                    equivalence=p["normalize"]["equivalence"])
    results["ud"] = score("ud", preds, binner)
    name = dataset.replace(":", "_")
    out, rows = {}, []
    for method, (metrics, rel) in results.items():
        out[method] = dict(metrics, method=f"{method}@{name}", dataset=dataset, trained_on=p["data"]["dataset"])
        rows.extend(dict(r, method=method) for r in rel)
    io.write_json(METRICS / "shift" / f"{name}.json", out)
    io.write_json(PLOTS / "shift" / f"{name}.json", rows)
    print(f"shift {dataset}: " + ", ".join(f"{m} AUROC {v['auroc']:.3f}" if v["auroc"] is not None else f"{m} -"
                                           for m, v in out.items()))
    return out
