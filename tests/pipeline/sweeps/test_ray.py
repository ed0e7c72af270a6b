"""The Ray executor on a real local Ray cluster (`ray.init(num_cpus=2)`, the package from PyPI):
the cache it writes is exactly the local executor's, a worker process killed mid-sweep is restarted
by Ray and the sweep ends with the same cache, a finished sweep sends nothing, and one small sweep
scores with the real SmolLM2 inside Ray actors."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pipeline.sweeps.driver import LocalExecutor, run_sweep
from pipeline.sweeps.ray_executor import ACTOR_PREFIX, RayExecutor
from pipeline.sweeps.spec import load_sweep
from tests.pipeline.sweeps.test_sweep import SWEEP, assert_same_cache, write_sweep

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _fresh_cache(folder: Path, source: Path) -> Path:
    (folder / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        (folder / "demo" / name).write_bytes((source / "demo" / name).read_bytes())
    return folder


def test_ray_writes_exactly_the_cache_the_local_executor_writes(cluster, demo_cache, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    local = run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    on_ray = _fresh_cache(tmp_path / "ray", demo_cache)
    remote = run_sweep(sweep, RayExecutor(), root=on_ray, progress=False)
    assert (remote.scored, remote.tasks_sent, remote.failures) == (local.scored, local.tasks_sent, []) == (480, 60, [])
    assert_same_cache(demo_cache, on_ray)
    again = run_sweep(sweep, RayExecutor(), root=on_ray, progress=False)
    assert (again.tasks_sent, again.scored, again.cached) == (0, 0, 480)  # nothing is sent, no actor is started


def test_a_worker_killed_mid_sweep_is_restarted_and_the_cache_is_the_same(cluster, demo_cache, tmp_path):
    slow = SWEEP.replace('backend = "fake"\nworkers = 2', 'backend = "fake"\nworkers = 2\noptions = { delay = 0.2 }')
    sweep = load_sweep(write_sweep(tmp_path, slow))
    run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    on_ray = _fresh_cache(tmp_path / "ray", demo_cache)
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(summary=run_sweep(sweep, RayExecutor(), root=on_ray, progress=False)))
    worker.start()
    victim, deadline = None, time.time() + 60
    while victim is None and time.time() < deadline:  # a live fake-b worker, once fake-b results are coming in
        if list(on_ray.glob("demo/runs/fake-b*/part-*.parquet")):
            for name in (n for n in ray.util.list_named_actors() if n.startswith(ACTOR_PREFIX) and "fake-b" in n):
                ready, _ = ray.wait([ray.get_actor(name).pid.remote()], timeout=1.0)
                if ready:
                    victim = ray.get(ready[0])
                    break
        time.sleep(0.05)
    assert victim and worker.is_alive(), "no live fake-b worker while the sweep ran"
    os.kill(victim, signal.SIGKILL)
    worker.join(timeout=100)
    assert not worker.is_alive()
    summary = done["summary"]
    assert summary.failures == [] and summary.scored == 480  # its tasks were retried on the worker Ray restarted
    assert len(summary.worker_pids - {victim}) >= 3  # fake-a's worker and two fake-b workers besides the killed one
    assert_same_cache(demo_cache, on_ray)


@pytest.mark.model
def test_a_small_sweep_with_the_real_smollm2_on_ray(cluster, demo_cache, tmp_path, smollm2_spec):
    """The actors find the weights the fixture prepared (the default models folder: the cluster's
    processes share this machine's environment)."""
    text = ('benchmark = "demo"\nprotocols = ["choice", "logprob"]\nsplits = ["test"]\nlimit = 4\npart_size = 2\n'
            '[[model]]\nname = "smollm2-135m"\nbackend = "transformers"\nbatch_size = 2\n')
    sweep = load_sweep(write_sweep(tmp_path, text))
    summary = run_sweep(sweep, RayExecutor(), root=demo_cache, progress=False)
    assert (summary.runs, summary.scored, summary.failures, summary.tasks_sent) == (2, 8, [], 4)
    from analysis.data.cache import scan_results

    rows = scan_results("demo", demo_cache).collect()
    assert rows.height == 8 and rows["aligned"].is_not_null().all()
    assert set(rows["run_id"].str.split(".").list.get(1)) == {"choice", "logprob"}


def test_a_model_no_node_can_hold_fails_with_the_reason_and_the_rest_is_scored(cluster, demo_cache, tmp_path):
    """Eight GPUs per worker on a cluster without a GPU: its tasks fail at once with why (they would
    wait forever), the FakeBackend model's runs are scored."""
    text = SWEEP + '\n[[model]]\nname = "org/too-big"\nbackend = "vllm"\ntensor_parallel_size = 8\n'
    summary = run_sweep(load_sweep(write_sweep(tmp_path, text)), RayExecutor(), root=demo_cache, progress=False)
    assert summary.scored == 480 and len(summary.failures) == 6 * 5
    assert all("no node of the Ray cluster has 8 GPU(s)" in error for _, error in summary.failures)
