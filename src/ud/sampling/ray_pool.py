"""Sampling units spread over Ray actors (`sample.workers > 1`): on this machine's cores, or on a cluster.

Each actor builds its own backend once (from a picklable factory) and computes whole units; the driver
(ud.sampling.units.run_units) commits every unit to the cache as it arrives and assembles the file in question order.
A unit's records depend only on its inputs -- its questions, its sample indices and their seeds, its batch shape --
so the sample file is byte-identical for 1, 2 or 4 workers, and a killed run redoes only the units in flight.

`RAY_ADDRESS` (e.g. ray://head:10001 or auto) joins an existing cluster; otherwise a local Ray is started with
this machine's cores. Ray is an extra: pip install '.[ray]'.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from ud.errors import DataError


def start_ray(ray, workers: int, threads: int) -> None:
    """Join the cluster named by RAY_ADDRESS, or start a local Ray with enough CPUs for `workers` x `threads`
    (at least this machine's cores); nothing if Ray is already up in this process."""
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(num_cpus=max(os.cpu_count() or 1, workers * threads), include_dashboard=False, log_to_driver=False)


class _Worker:
    """Holds one backend; torch threads capped so that the workers together do not oversubscribe the cores."""

    def __init__(self, factory: Callable[[], Callable], threads: int):
        import torch

        torch.set_num_threads(threads)
        self.compute = factory()

    def numerics(self, engine: str) -> dict:
        import torch

        from ud.engines.base import torch_numerics

        return torch_numerics(engine, "cuda" if torch.cuda.is_available() else "cpu")

    def run(self, index: int, questions: list[dict], ks: list[int]) -> tuple[int, list[dict], float]:
        t = time.perf_counter()
        records = self.compute(questions, ks)
        return index, records, time.perf_counter() - t


class RayPool:
    """map(tasks) -> (task index, records, seconds) as units finish, over `workers` Ray actors.

    factory() -> compute(questions, ks): called once inside each actor (it loads the model there).
    threads: torch threads per actor (default: this machine's cores // workers, at least 1); each actor reserves
    that many Ray CPUs, or `gpus` GPUs each when given. `numerics`: what the actors compute with (their device and
    threads), the same for every actor.
    """

    def __init__(self, factory: Callable[[], Callable], workers: int, threads: int | None = None,
                 gpus: float = 0, engine: str = "hf"):
        try:
            import ray
        except ImportError as e:
            raise DataError("sample.workers > 1 runs on Ray: pip install '.[ray]' (or ray)") from e
        if workers < 1:
            raise DataError(f"sample.workers={workers}: must be >= 1")
        self.ray = ray
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        start_ray(ray, workers, self.threads)
        actor = ray.remote(num_cpus=self.threads, num_gpus=gpus)(_Worker)
        self.actors = [actor.remote(factory, self.threads) for _ in range(workers)]
        seen = ray.get([a.numerics.remote(engine) for a in self.actors])
        if any(s != seen[0] for s in seen):
            raise DataError(f"the Ray workers compute with different numerics ({seen}): one draw would mix them; "
                            "give every worker the same device and threads (sample.threads_per_worker)")
        self.numerics = seen[0]

    def map(self, tasks: list[tuple[list[dict], list[int]]]) -> Iterator[tuple[int, list[dict], float]]:
        from ray.util import ActorPool

        pool = ActorPool(self.actors)
        yield from pool.map_unordered(lambda a, t: a.run.remote(t[0], *t[1]), list(enumerate(tasks)))

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
