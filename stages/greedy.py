"""Stage greedy: the base model's greedy answers and their P(IK) features (the hidden state at the answer's last
token, from the same decoding passes), which lexical, P(True) and P(IK) build on
-> data/greedy/<part>.jsonl + <part>.features.safetensors.
Usage: python stages/greedy.py {calibration|eval}   (eval: the test split and every domain-shift dataset)"""

import sys

import numpy as np
from safetensors.numpy import save_file

from ud import paths, stage, timings
from ud.baselines.greedy import answer_questions
from ud.data.prompts import Format
from ud.engines.registry import build_backend
from ud.records import GREEDY


def main(p, part: str):
    g = p.baselines.greedy
    fmt = Format.from_params(p.prompt)
    backend, _ = build_backend(p.model, chat=fmt.chat, scoring=True)
    sets = [("calibration", paths.questions("calibration"))] if part == "calibration" else paths.eval_sets(p.scored)
    records, feats, clock = [], [], timings.PerSet()
    for name, qs in sets:
        with clock.timing(name, len(qs)):
            recs, f = answer_questions(backend, fmt, qs, constrain=g.constrain, max_new_tokens=g.max_new_tokens,
                                       batch_size=g.batch_size, desc=f"greedy {name}",
                                       equivalence=p.normalize.equivalence, layer=g.layer)
        records += [dict(r, set=name) for r in recs]
        feats.append(f)
        print(f"greedy {name}: {len(recs)} answers, accuracy {sum(r['correct'] for r in recs) / len(recs):.3f}")
    GREEDY.write(paths.greedy_file(part), records)
    save_file({"hidden": np.concatenate(feats).astype("float32")}, str(paths.features_file(part)))
    timings.write(f"greedy_{part}", {"per_answer": clock.per_answer})


if __name__ == "__main__":
    if sys.argv[1:] not in (["calibration"], ["eval"]):
        sys.exit("usage: python stages/greedy.py {calibration|eval}")
    stage.run(main, sys.argv[1])
