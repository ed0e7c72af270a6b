"""The Ray executor: each model's workers are Ray actors holding the model (GPUs = its tensor-parallel
size), fed tasks by the driver, at most `in_flight` each at a time.

Actors are restarted by Ray when their process or node is lost (`max_restarts`), and the task they
held is retried on the new one (`max_task_retries`): tasks only score and return rows, so a retry
is safe and the cache stays exact. A task that raises is reported by the driver and not retried.

`pip install mvpbench[ray]`; `ray.init()` is called here unless the caller has connected already
(a test's `ray.init(num_cpus=2)`, or `--address` for a running cluster).
"""

from __future__ import annotations

import secrets
import socket
from collections import deque
from typing import Any

from pipeline.sweeps.spec import SweepModel
from pipeline.sweeps.worker import ModelWorker, Task

ACTOR_PREFIX = "mvpbench-worker"  # actors are named <prefix>-<sweep>-<k>-<model>-<i>, so an operator (or a test) finds them


def import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("the ray executor needs Ray: pip install 'mvpbench[ray]' (or use --executor local)") from None
    return ray


REACH_SECONDS = 5.0


def address_unreachable(address: str | None, timeout: float = REACH_SECONDS) -> str | None:
    """Why a cluster address cannot be reached (a TCP connect to its host and port), or None when it
    answers or names no port ("auto", "local", none: Ray finds or starts the cluster itself)."""
    target = (address or "").removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__).lower()
        return (f"cannot reach the Ray cluster at {address} ({reason} after {timeout:g} s at most): is `ray start --head` "
                "running there and its port open to this machine?")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, *, in_flight: int = 2, max_restarts: int = 3, max_task_retries: int = 3,
                 cpus_per_worker: float = 1.0, namespace: str = "mvpbench"):
        self.address, self.in_flight, self.namespace = address, in_flight, namespace
        self.token = secrets.token_hex(3)  # names stay unique while a killed actor's name is still being released
        self.max_restarts, self.max_task_retries, self.cpus_per_worker = max_restarts, max_task_retries, cpus_per_worker

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        unreachable = address_unreachable(self.address)
        if unreachable:  # else Ray waits for its own GCS timeout (over two minutes) before saying so
            raise ValueError(unreachable)
        try:
            ray.init(address=self.address, namespace=self.namespace, log_to_driver=False)
        except (ConnectionError, RuntimeError) as err:  # a wrong --address, or "auto" with no cluster running
            where = self.address or "this machine"
            raise ValueError(f"cannot start or reach Ray at {where}: {str(err).splitlines()[0] if str(err) else err!r}") from None

    def _unschedulable(self, ray: Any, model: SweepModel) -> str | None:
        """Why no node could ever hold one of this model's workers (else it would wait forever)."""
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if any(r.get("CPU", 0) >= self.cpus_per_worker and r.get("GPU", 0) >= model.gpus for r in nodes):
            return None
        most = max((r.get("GPU", 0) for r in nodes), default=0)
        return (f"no node of the Ray cluster has {model.gpus} GPU(s) and {self.cpus_per_worker:g} CPU for one worker of "
                f"{model.name} (the most GPUs on a node: {most:g}); lower tensor_parallel_size or add such a node")

    def _actors(self, ray: Any, model: SweepModel, index: int) -> list[Any]:
        remote = ray.remote(ModelWorker)
        slug = "".join(c if c.isalnum() else "-" for c in model.name)[:40]
        return [remote.options(name=f"{ACTOR_PREFIX}-{self.token}-{index}-{slug}-{i}", num_cpus=self.cpus_per_worker, num_gpus=model.gpus,
                               max_restarts=self.max_restarts, max_task_retries=self.max_task_retries).remote(model.key)
                for i in range(model.workers)]

    def run(self, work: list[tuple[SweepModel, list[Task]]], on_result) -> None:
        ray = import_ray()
        self._connect(ray)
        groups = []
        for k, (model, tasks) in enumerate(work):
            reason = self._unschedulable(ray, model)
            if reason:  # reported per task, the other models go on
                for task in tasks:
                    on_result(task, RuntimeError(reason))
                continue
            groups.append(_Group(model, deque(tasks), self._actors(ray, model, k)))
        # An actor takes tasks only once it is alive: one that waits for free CPUs or GPUs holds none, so
        # a cluster smaller than the sweep runs the models one after another instead of deadlocking.
        waiting = {actor.pid.remote(): (g, actor) for g in groups for actor in g.actors}
        pending: dict[Any, tuple[_Group, Any, Task]] = {}
        try:
            while pending or any(g.queue for g in groups if g.actors):
                ready, _ = ray.wait([*pending, *waiting], num_returns=1)
                ref = ready[0]
                if ref in waiting:
                    group, actor = waiting.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as err:  # the actor could not start (its model, its node)
                        group.lost(actor, err, on_result, ray)
                    else:
                        for _ in range(self.in_flight):
                            self._submit(group, actor, pending)
                    continue
                group, actor, task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as err:  # the worker is gone for good (restarts used up)
                    on_result(task, err)
                    if actor in group.actors:
                        group.lost(actor, err, on_result, ray)
                    continue  # nothing more goes to it; the model's other workers take the queue
                except Exception as err:  # RayTaskError: the task raised; the worker is fine
                    on_result(task, getattr(err, "cause", None) or err)
                else:
                    on_result(task, result)
                self._submit(group, actor, pending)
                if not group.queue and not any(g is group for g, _, _ in pending.values()):
                    group.release(ray, waiting)  # done: its CPUs and GPUs go to the models still waiting
        finally:
            for g in groups:
                g.release(ray, waiting)

    @staticmethod
    def _submit(group: _Group, actor: Any, pending: dict) -> None:
        if group.queue:
            task = group.queue.popleft()
            pending[actor.score.remote(task)] = (group, actor, task)


class _Group:
    """One model's task queue and its actors."""

    def __init__(self, model: SweepModel, queue: deque, actors: list[Any]):
        self.model, self.queue, self.actors = model, queue, actors

    def lost(self, actor: Any, err: BaseException, on_result, ray: Any) -> None:
        self.actors.remove(actor)
        if not self.actors:  # no worker of this model will ever start: its tasks fail with the reason
            while self.queue:
                on_result(self.queue.popleft(), getattr(err, "cause", None) or err)

    def release(self, ray: Any, waiting: dict) -> None:
        for ref, (group, _) in list(waiting.items()):
            if group is self:
                del waiting[ref]
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
