"""Stage teacher_shift: the teacher's answer sets on every domain-shift dataset -> data/answers/shift/ (<set>.jsonl,
and sets.json: what each set's draws cost; no set unless the scored split is test, as for every method under shift).

The teacher is what the sample and normalize stages compute on the scored split (the base model's own signal:
under `exact`, each option's probability); the metrics stage passes these answer sets through the calibrator and
binner fitted on the calibration split (ud.baselines.teacher.shift_records), so under shift the distilled model is
compared with the signal it was taught from as well as with the baselines (paper §4.2), and a new binning reruns
no draw. The draws go through the unit cache of the set (data/cache/samples/<set>/), under the definition semantic
clustering's draws of that set use."""

import shutil

from tqdm import tqdm

from ud import io, paths, stage
from ud.baselines import teacher
from ud.data.prompts import Format
from ud.engines.registry import build_backend, sampling_scores
from ud.method.answer_sets import answer_sets
from ud.records import ANSWER_SETS
from ud.sampling import draws
from ud.sampling.estimators import DrawSetting


def main(p):
    shift_sets = paths.eval_sets(p.scored)[1:]
    out = teacher.SHIFT_ANSWERS
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    drawn_sets = {}
    if shift_sets:
        s = p.sample
        exact = s.estimator == "exact"
        n = 1 if exact else p.n
        fmt = Format.from_params(p.prompt)
        backend, ref = build_backend(p.model, chat=fmt.chat, scoring=sampling_scores(p.model, s.estimator))
        setting = DrawSetting(p.model, p.prompt, s, p.seed, ref.revision)
        for name, qs in shift_sets:
            with tqdm(total=len(qs), desc=f"teacher {name} ({s.estimator}, N={n})", unit="q") as bar:
                drawn, _ = draws.samples(backend, fmt, qs, n, paths.SAMPLE_CACHE / name, setting, raw=True,
                                         progress=lambda finished, computed: bar.update(finished))
            sets = answer_sets(qs, drawn, estimator=s.estimator, n=n, adaptive=False,
                               require_tags=p.prompt.template == "reasoning", normalize=p.normalize,
                               model_id=p.model.id, dtype=p.model.dtype, seed=p.seed, source=f"teacher@{name}")
            ANSWER_SETS.write(out / f"{name}.jsonl", sets)
            tokens = 0 if exact else sum(r["n_tokens"] for rs in drawn.values() for r in rs)
            drawn_sets[name] = {"estimator": s.estimator, "n": n, "questions": len(qs), "generated_tokens": tokens}
            top = sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in sets) / len(sets)
            print(f"teacher {name}: {len(qs)} questions, top-answer accuracy {top:.3f}")
    io.write_json(out / "sets.json", drawn_sets)


if __name__ == "__main__":
    stage.run(main)
