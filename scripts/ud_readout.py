"""The distilled model's answers read three ways, per evaluation set, from data/eval/ud.jsonl:
AUROC of the expected confidence under its label distribution (raw), of the most likely label's bin (argmax) and of
the bin the expected value falls in (expected); accuracy; and how often each label was stated, right and wrong.

    python scripts/ud_readout.py data/eval/ud.jsonl [--binner models/binner.json] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict

from sklearn.metrics import roc_auc_score

from ud import io


def readout(records: list[dict], labels: list[str] | None) -> dict:
    by_set = defaultdict(list)
    for r in records:
        by_set[r["set"]].append(r)
    out = {}
    for name, rs in by_set.items():
        y = [bool(r["correct"]) for r in rs]
        auroc = (lambda xs: round(float(roc_auc_score(y, xs)), 4) if 0 < sum(y) < len(y) else None)
        stated = Counter((r["bin_argmax"], r["correct"]) for r in rs)
        name_of = (lambda b: labels[b] if labels else str(b))
        out[name] = {
            "n": len(rs), "accuracy": round(sum(y) / len(y), 4),
            "auroc_raw_expected": auroc([r["raw"] for r in rs]),
            "auroc_bin_argmax": auroc([r["bin_argmax"] for r in rs]),
            "auroc_bin_expected": auroc([r["bin_expected"] for r in rs]),
            "argmax_labels": {name_of(b): {"right": stated[(b, True)], "wrong": stated[(b, False)]}
                              for b in sorted({b for b, _ in stated})},
            "expected_labels": dict(sorted(Counter(name_of(r["bin_expected"]) for r in rs).items())),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records")
    ap.add_argument("--binner")
    ap.add_argument("--json")
    a = ap.parse_args()
    records = list(io.read_jsonl(a.records))
    labels = io.read_json(a.binner)["labels"] if a.binner else None
    out = readout(records, labels)
    print(json.dumps(out, indent=1))
    if a.json:
        io.write_json(a.json, out)


if __name__ == "__main__":
    main()
