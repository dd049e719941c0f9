"""The sampling engine: chunks of questions x blocks of sample indices, committed to a cache as they finish.

Work is cut into units (chunk c, block b): the questions at positions [c*chunk, (c+1)*chunk) of the split and the
sample indices k in [b*block, (b+1)*block). A unit is always computed whole (all `block` indices, even past N) and
written atomically to its own file, so
  * a killed run loses at most the unit in flight, and rerunning computes only the missing units;
  * raising N computes only the new blocks, and the result equals a fresh run at the larger N: every unit has the
    same inputs and batch shape either way, and each sample's randomness is its own seed, stable_seed(seed, qid, k);
  * lowering N reads a prefix of what is there.
A unit file is JSON lines plus a last `commit` line holding the sha256 of the lines before it, the question ids and
a hash of their prompts; a truncated, corrupt, or stale file (questions or prompts changed) is reported and redone.

The cache folder is keyed by a hash of everything that defines a draw except N (model, prompt, estimator, decoding
settings, seed, chunk and block sizes), so settings never mix. The engine settings that change the numbers without
changing the draw's meaning (threads on a CPU, the GPU, vLLM's scheduling: Engine.numerics) are kept beside the
units: a run that would compute with other numerics is refused, so one sample file is never computed two ways.

Adaptive N (off by default): after each block a question stops drawing once its top answer's bin can no longer
change -- the Wilson interval of the top answer's share maps (through a calibrator, when one is given) into a
single fixed-width bin.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ud import io
from ud.errors import DataError
from ud.records import SAMPLES

if TYPE_CHECKING:
    from ud.sampling.estimators import DrawSetting

COMMIT_KEY = "__commit__"


def definition_hash(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def prompts_hash(prompts: list[str]) -> str:
    return hashlib.sha256("\x00".join(prompts).encode()).hexdigest()[:16]


class ChunkStore:
    """One file per (chunk, block) unit under `root`, each committed atomically and verified on read."""

    def __init__(self, root: str | os.PathLike, definition: dict, numerics: dict | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        spec = self.root / "definition.json"
        if not spec.exists():
            io.write_json(spec, definition)
        self.numerics = numerics or {}
        held = self.root / "numerics.json"
        self.held_numerics = io.read_json(held) if held.exists() and self.units() else None
        self.redone: list[str] = []  # units found corrupt or stale, recomputed
        self.last_seconds: float | None = None  # compute time recorded in the last unit loaded
        for leftover in self.root.glob("*.tmp*"):  # a unit being written when the last run was killed
            leftover.unlink()

    def path(self, chunk: int, block: int) -> Path:
        return self.root / f"c{chunk:05d}-b{block:03d}.jsonl"

    def load(self, chunk: int, block: int, qids: list[str], phash: str) -> list[dict] | None:
        """The unit's records, or None when absent; a unit that fails verification is reported, removed, and
        None is returned so it is recomputed."""
        path = self.path(chunk, block)
        if not path.exists():
            return None
        problem = None
        try:
            raw = path.read_bytes()
            body, _, last = raw.rstrip(b"\n").rpartition(b"\n")
            commit = json.loads(last).get(COMMIT_KEY) if last else None
            if commit is None:
                problem = "no commit line (truncated)"
            elif commit["sha256"] != hashlib.sha256(body).hexdigest():
                problem = "checksum mismatch (corrupt)"
            elif commit["qids"] != qids or commit["prompts"] != phash:
                problem = "written for other questions or prompts (stale)"
            else:
                records = [json.loads(line) for line in body.split(b"\n")] if body else []
                if len(records) != commit["records"]:
                    problem = "record count mismatch"
                else:
                    self.last_seconds = commit.get("seconds")
                    return records
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            problem = f"unreadable ({type(e).__name__}: {e})"
        print(f"sample cache: {path.name}: {problem}; redoing it")
        self.redone.append(path.name)
        path.unlink()
        return None

    def commit(self, chunk: int, block: int, records: list[dict], qids: list[str], phash: str,
               seconds: float | None = None) -> None:
        """Write a unit this run computed. Units that are only read may come from other numerics; a unit computed
        with other numerics than the held ones is refused, so no file is completed two ways."""
        if self.held_numerics is None:
            io.write_json(self.root / "numerics.json", self.numerics)
            self.held_numerics = self.numerics
        elif self.held_numerics != self.numerics:
            raise DataError(f"{self.root}: its {len(self.units())} units were computed with {self.held_numerics}, "
                            f"this run computes with {self.numerics}; one sample file would mix the two. Rerun with "
                            "the same settings (UD_THREADS or sample.threads_per_worker, the same device, vLLM's "
                            f"environment), or remove {self.root} to draw them all again this way")
        body = "\n".join(json.dumps(r, sort_keys=True) for r in records).encode()
        commit = {COMMIT_KEY: {"sha256": hashlib.sha256(body).hexdigest(), "records": len(records), "qids": qids,
                               "prompts": phash, "seconds": seconds}}
        data = (body + b"\n" if body else b"") + json.dumps(commit).encode() + b"\n"
        path = self.path(chunk, block)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: the unit is either whole or absent

    def units(self) -> list[Path]:
        return sorted(self.root.glob("c*-b*.jsonl"))


# ---- adaptive N ----------------------------------------------------------------------------------------------
def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class AdaptiveStop:
    """Stop a question once its top answer's (calibrated) bin is settled."""
    bins: int = 5
    z: float = 1.96
    min_n: int = 10
    calibrator: Callable | None = None  # monotone map from frequency to probability (isotonic/platt)

    def bin_of(self, p: float) -> int:
        if self.calibrator is not None:
            p = float(self.calibrator([p])[0])
        return min(self.bins - 1, int(p * self.bins))

    def settled(self, answers: list) -> bool:
        """`answers`: the normalized answer of each sample so far (None = invalid, counted in n)."""
        n = len(answers)
        if n < self.min_n:
            return False
        valid = Counter(a for a in answers if a is not None)
        top = valid.most_common(1)[0][1] if valid else 0
        lo, hi = wilson(top, n, self.z)
        # monotone calibrators map [lo, hi] onto [cal(lo), cal(hi)], so equal end bins mean one bin throughout
        return self.bin_of(lo) == self.bin_of(hi)


# ---- the engine ------------------------------------------------------------------------------------------------
@dataclass
class SampleRun:
    records: list[dict]
    computed: int  # samples computed in this run (not read from the cache)
    cached: int  # samples read from the cache
    units_computed: int
    units_cached: int
    wall: float
    stopped_early: int  # questions stopped by adaptive N
    redone: list[str]
    compute_seconds: float | None  # time spent computing every unit, whenever it was computed (None: unknown)

    @property
    def samples(self) -> int:
        return len(self.records)


class SerialPool:
    """Computes units one after another in this process (the default, `sample.workers: 1`)."""

    def __init__(self, compute: Callable[[list[dict], list[int]], list[dict]]):
        self.compute = compute

    def map(self, tasks: list[tuple[list[dict], list[int]]]) -> Iterator[tuple[int, list[dict], float]]:
        for i, (qs, ks) in enumerate(tasks):
            t = time.perf_counter()
            records = self.compute(qs, ks)
            yield i, records, time.perf_counter() - t


def run_units(questions: list[dict], prompts: list[str], n: int, chunk: int, block: int, store: ChunkStore,
              compute: Callable[[list[dict], list[int]], list[dict]] | None = None, *, per_question: bool = False,
              answer_of: Callable[[dict, dict], object] | None = None, adaptive: AdaptiveStop | None = None,
              progress: Callable[[int, int], None] | None = None, pool=None) -> SampleRun:
    """Draw samples k < n for every question, unit by unit, through the store.

    compute(questions, ks) -> records for those questions and sample indices (the backend work), run in this
    process; or pool: anything with map(tasks) yielding (task index, records, seconds) in any order -- a
    ud.sampling.ray_pool.RayPool spreads units over workers. Units run in waves, one per block: the units of a wave are
    independent (adaptive N decides between waves), each is committed by this process as it arrives, and the
    records are assembled in question order, so the result does not depend on the pool or the order of arrival;
    per_question: one record per question (the `exact` estimator), a single block;
    answer_of(question, record) -> normalized answer or None, needed by adaptive N;
    progress(questions_finished, samples_computed) after each unit.
    """
    if chunk < 1 or block < 1:
        raise DataError(f"chunk={chunk}, block={block}: both must be >= 1")
    if (compute is None) == (pool is None):
        raise ValueError("run_units needs exactly one of compute and pool")
    pool = pool or SerialPool(compute)
    blocks = 1 if per_question else math.ceil(n / block)
    t0 = time.perf_counter()
    out: list[list[dict]] = [[] for _ in questions]
    tally = Counter()  # computed, cached, units_computed, units_cached, stopped
    compute_seconds: float | None = 0.0
    active = {c0: list(range(c0, min(c0 + chunk, len(questions)))) for c0 in range(0, len(questions), chunk)}
    for b in range(blocks):
        last_block = b == blocks - 1
        ks = [0] if per_question else list(range(b * block, (b + 1) * block))
        following: dict[int, list[int]] = {}  # the questions of each chunk that go on to block b + 1

        def take(c0: int, records: list[dict]) -> None:
            pos_of = {questions[i]["id"]: i for i in active[c0]}
            for r in records:
                if r["k"] < n:
                    out[pos_of[r["qid"]]].append(r)
            still = []
            for i in active[c0]:
                if not last_block and adaptive is not None and answer_of is not None \
                        and adaptive.settled([answer_of(questions[i], r) for r in out[i]]):
                    tally["stopped"] += 1
                elif not last_block:
                    still.append(i)
            if still:
                following[c0] = still
            if progress is not None:
                progress(len(active[c0]) - len(still), tally["computed"])

        units, missing = {}, []
        for c0, positions in active.items():
            units[c0] = ([questions[i]["id"] for i in positions], prompts_hash([prompts[i] for i in positions]))
            records = store.load(c0 // chunk, b, *units[c0])
            if records is None:
                missing.append(c0)
                continue
            seconds = store.last_seconds
            tally["cached"] += len(records)
            tally["units_cached"] += 1
            compute_seconds = None if compute_seconds is None or seconds is None else compute_seconds + seconds
            take(c0, records)
        tasks = [([questions[i] for i in active[c0]], ks) for c0 in missing]
        for t, records, seconds in pool.map(tasks):
            c0 = missing[t]
            # the same canonical form as a record read back from the cache, so a resumed run is byte-identical
            records = [json.loads(json.dumps(r, sort_keys=True)) for r in records]
            store.commit(c0 // chunk, b, records, *units[c0], seconds)  # committed as it arrives: a kill loses
            tally["computed"] += len(records)                            # only the units in flight
            tally["units_computed"] += 1
            compute_seconds = None if compute_seconds is None else compute_seconds + seconds
            take(c0, records)
        active = dict(sorted(following.items()))
        if not active:
            break
    records = [r for rs in out for r in sorted(rs, key=lambda r: r["k"])]
    return SampleRun(records, tally["computed"], tally["cached"], tally["units_computed"], tally["units_cached"],
                     time.perf_counter() - t0, tally["stopped"], list(store.redone), compute_seconds)


# ---- what defines a draw, and seeding the cache from a previous final file -------------------------------------------
def definition(setting: DrawSetting, engine: str, *, adaptive: bool = True) -> dict:
    """Everything that decides what a sample is, except how many are drawn: the key of the cache folder.
    `adaptive=False` leaves sample.adaptive out (inference-time sampling draws the same samples, never stopping
    early)."""
    model, sample = setting.model, setting.sample
    settings = {k: getattr(sample, k) for k in ("temperature", "top_p", "max_new_tokens", "exact_score", "chunk",
                                                "block")}
    return {"model": {"id": model.id, "revision": setting.revision, "dtype": model.dtype},
            "prompt": setting.prompt.model_dump(), "seed": setting.seed, "backend": engine,
            "sample": {**settings, "estimator": sample.estimator},
            "adaptive": sample.adaptive.model_dump() if adaptive and sample.adaptive.enabled else None}


def import_previous(store: ChunkStore, records_path: Path, meta_path: Path, key: str, qs: list[dict],
                    prompts: list[str], chunk: int, block: int, exact: bool) -> int:
    """Seed an empty cache from the stage's previous output (kept by `persist: true`, e.g. pulled from a DVC
    remote) when it was drawn under the same definition, so raising sample.n on another machine tops up instead
    of starting over. Only whole units are imported. Returns the number of units imported."""
    if store.units() or not records_path.exists() or not meta_path.exists():
        return 0
    meta = io.read_json(meta_path)
    if meta.get("definition_hash") != key or meta.get("adaptive"):
        return 0
    if meta.get("numerics") != store.numerics:  # drawn with other numerics: this run draws every unit itself
        print(f"sample cache: {records_path} was computed with {meta.get('numerics')}, this run computes with "
              f"{store.numerics}: not imported")
        return 0
    by_q: dict[str, dict[int, dict]] = {}
    for r in SAMPLES.read(records_path):
        by_q.setdefault(r["qid"], {})[r["k"]] = r
    blocks = 1 if exact else meta["n"] // block
    imported = 0
    for c0 in range(0, len(qs), chunk):
        batch = qs[c0: c0 + chunk]
        for b in range(blocks):
            ks = [0] if exact else range(b * block, (b + 1) * block)
            if not all(k in by_q.get(q["id"], {}) for q in batch for k in ks):
                break
            store.commit(c0 // chunk, b, [by_q[q["id"]][k] for q in batch for k in ks], [q["id"] for q in batch],
                         prompts_hash(prompts[c0: c0 + chunk]))
            imported += 1
    if imported:
        print(f"sample cache: seeded with {imported} units from the previous {records_path}")
    return imported
