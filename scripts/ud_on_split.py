"""The distilled model (models/ud) on questions of any split, scored like the evaluate + metrics stages: can it fit
its own training questions at all? A diagnostic, not a stage.

    python scripts/ud_on_split.py data/splits/calibration.jsonl --limit 100
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ud import io, params, paths  # noqa: E402
from ud.backends import build_backend  # noqa: E402
from ud.binning import Binner  # noqa: E402
from ud.evaluate import predict  # noqa: E402
from ud.metrics import score_verbal  # noqa: E402
from ud.prompts import Format  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("questions", help="a JSONL of questions (e.g. data/splits/calibration.jsonl)")
    ap.add_argument("--limit", type=int, default=100)
    a = ap.parse_args()
    p = params.load()
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    binner = Binner.from_json(io.read_json(paths.BINNER))
    backend, _ = build_backend(p.model, chat=fmt.chat, trained=str(paths.UD_MODEL))
    qs = list(io.read_jsonl(a.questions))[: a.limit]
    e = p.evaluate
    preds = predict(backend, fmt, qs, binner.labels, ud=True, constrain=e.constrain, max_new_tokens=e.max_new_tokens,
                    batch_size=e.batch_size, equivalence=p.normalize.equivalence, binner=binner,
                    label_rule=e.label_rule)
    m, rows = score_verbal("ud", preds, binner)
    print(f"{a.questions} ({len(qs)} questions): accuracy {m['accuracy']:.3f}, AUROC ({e.label_rule}) "
          f"{m['auroc']:.3f}, argmax {m.get('auroc_bin_argmax')}, expected {m.get('auroc_bin_expected')}, raw "
          f"{m.get('auroc_raw')}; labels stated {[r['count'] for r in rows]}")


if __name__ == "__main__":
    main()
