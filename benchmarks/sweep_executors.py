"""A 2-worker Ray sweep against the local executor on the same runs, on this machine.

    python benchmarks/sweep_executors.py [--repeats 3] [--real]

Three workloads, each timed for both executors on a fresh copy of the demo benchmark:

- `accelerator`: the FakeBackend with `delay` seconds per scoring call, standing in for a model whose
  time is spent on a GPU (the CPU is free while it waits): what two GPU workers gain;
- `overhead`: the FakeBackend with no delay and one-instance tasks, so the difference per task is
  what Ray adds (scheduling, serialising the rows both ways, the driver's bookkeeping);
- `--real`: SmolLM2-135M on this 2-core CPU (two actors with one torch thread each vs one process
  with two), where both compete for the same cores.

Ray's start (`ray.init`) is timed apart and not counted in the sweeps. Prints JSON (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from analysis.data.cache import default_cache_root
from pipeline.sweeps.driver import LocalExecutor, run_sweep
from pipeline.sweeps.spec import load_sweep

WORKLOADS = {
    "accelerator": ('benchmark = "demo"\nprotocols = ["choice", "logprob"]\nconditions = ["profile", "blind"]\nsplits = ["test"]\n'
                    'limit = 160\npart_size = 16\n[[model]]\nname = "fake-gpu"\nbackend = "fake"\nworkers = 2\n'
                    'options = { delay = 0.25 }\n'),
    "overhead": ('benchmark = "demo"\nprotocols = ["choice"]\nsplits = ["test"]\nlimit = 200\npart_size = 1\n'
                 '[[model]]\nname = "fake-fast"\nbackend = "fake"\nworkers = 2\n'),
    "real": ('benchmark = "demo"\nprotocols = ["choice"]\nsplits = ["test"]\nlimit = 24\npart_size = 4\n'
             '[[model]]\nname = "smollm2-135m"\nbackend = "transformers"\nbatch_size = 4\nworkers = 2\n'),
}


def _fresh(folder: Path) -> Path:
    (folder / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        shutil.copy(default_cache_root() / "demo" / name, folder / "demo" / name)
    return folder


def _time(sweep, executor) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = run_sweep(sweep, executor, root=_fresh(Path(tmp)), progress=False)
        assert not summary.failures, summary.failures
        return time.perf_counter() - started, summary.tasks_sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="also the real SmolLM2 on this CPU")
    args = parser.parse_args()
    import ray

    from pipeline.sweeps.ray_executor import RayExecutor

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out: dict = {"ray_init_seconds": round(time.perf_counter() - started, 2), "cpus": os.cpu_count()}
    names = ["accelerator", "overhead"] + (["real"] if args.real else [])
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / f"{name}.toml"
            path.write_text(WORKLOADS[name], encoding="utf-8")
            sweep = load_sweep(path)
            local = [_time(sweep, LocalExecutor()) for _ in range(args.repeats)]
            remote = [_time(sweep, RayExecutor()) for _ in range(args.repeats)]
            t_local, t_ray = statistics.median(t for t, _ in local), statistics.median(t for t, _ in remote)
            tasks = local[0][1]
            out[name] = {"tasks": tasks, "local_seconds": round(t_local, 3), "ray_seconds": round(t_ray, 3),
                         "speedup_local_over_ray": round(t_local / t_ray, 2),
                         "ray_minus_local_ms_per_task": round(1000 * (t_ray - t_local) / tasks, 2)}
    ray.shutdown()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
