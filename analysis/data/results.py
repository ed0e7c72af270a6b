"""Results joined with the instances they score: the one frame every analysis starts from.

`scan_scored` (lazy, all or nothing) and `read_scored` (run by run: an unreadable file leaves out its
run and is named, the rest stays usable; what the dashboard reads) are the I/O edge; `select_results`
and everything after it are pure functions of frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis.data.cache import read_run_manifest, run_groups, run_parts, scan_instances, scan_results
from analysis.data.contracts import CHOICE, RESULT_SCHEMA
# one definition of each metric (analysis.data.metrics); importable from here as before
from analysis.data.metrics import METRICS, metric_name  # noqa: F401

RESULT_FIELDS = ("run_id", "model", "protocol", "condition", "instance_id", "aligned")
DIAGNOSTICS_KEPT = ("order_consistent", "position_bias", "label_mass")  # both readers keep them: analysis.stats.diagnostics
# read_scored keeps the judges' fields too (with the unscored rows they explain): analysis.stats.diagnostics.judge_diagnostics
JUDGE_KEPT = ("judge", "judge_label", "judge_scores", "error")
# a logprob row's margin: the plain share preferring answer_w (margin > 0) is shown beside OPA (analysis.data.metrics)
SCORE_KEPT = ("margin",)


def scan_scored(benchmark: str, root: Path | None = None, run_ids: list[str] | None = None) -> pl.LazyFrame:
    """Every scored result with its instance's person, question and groups (lazy).

    Raises:
        ValueError: when a choice run still holds `aligned` derived by the old rule (mean label
            probability instead of the share of decisions), naming the runs and the fix.
    """
    _refuse_stale_choice_rows(scan_results(benchmark, root, run_ids, dedupe=False), benchmark)
    kept = scan_results(benchmark, root, run_ids).select(*RESULT_FIELDS, *DIAGNOSTICS_KEPT, *SCORE_KEPT)
    return kept.join(scan_instances(benchmark, root), on="instance_id", how="inner")


def _refuse_stale_choice_rows(results: pl.LazyFrame, benchmark: str) -> None:
    """Choice rows scored before `aligned` meant decisions keep p_w_first/p_w_second but no p_w: their
    PAA would be a confidence near 0.5, not a share of choices, so they are refused, not averaged."""
    runs = _stale_runs(results)
    if runs:
        raise ValueError(f"choice run(s) {', '.join(runs)} of benchmark '{benchmark}' were scored when PAA meant the mean "
                         "label probability; re-derive them as shares of decisions (no model needed): "
                         f"python -m pipeline.runs.rederive --benchmark {benchmark}")


@dataclass(frozen=True)
class Unreadable:
    """A cache file that could not be used: its path relative to the cache root and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def read_run(folders: list[Path], root: Path) -> tuple[pl.DataFrame | None, Unreadable | None]:
    """One run's results from its folders (analysis.data.cache.run_groups), read file by file: the first
    file that fails names the run's problem."""
    relative = lambda p: str(p.relative_to(root))  # noqa: E731
    run_dir = folders[0]
    for folder in folders:
        try:
            read_run_manifest(folder)
        except (OSError, ValueError) as error:
            return None, Unreadable(relative(folder / "manifest.json"), f"not valid JSON ({_reason(error)})")
    frames = []
    for part in (p for folder in folders for p in run_parts(folder)):
        try:
            frames.append(pl.read_parquet(part, glob=False))
        except Exception as error:  # noqa: BLE001 - polars raises several types for a damaged file
            return None, Unreadable(relative(part), f"unreadable parquet ({_reason(error)})")
    if not frames:
        return None, None
    results = pl.concat(frames, how="diagonal_relaxed")
    if len(frames) > 1:  # a part holds a key once (analysis.data.contracts): duplicates sit across parts only
        results = results.unique("key", keep="first", maintain_order=True)
    if _stale_runs(results.lazy()):
        return None, Unreadable(relative(run_dir), "choice results scored when PAA meant the mean label probability: "
                                f"re-derive with python -m pipeline.runs.rederive --benchmark {run_dir.parent.parent.name}")
    # a part written before a field existed reads as null there, as scan_results does
    absent = [pl.lit(None, dtype=RESULT_SCHEMA[c]).alias(c) for c in (*DIAGNOSTICS_KEPT, *JUDGE_KEPT, *SCORE_KEPT)
              if c not in results.columns]
    return results.with_columns(absent).select(*RESULT_FIELDS, *DIAGNOSTICS_KEPT, *JUDGE_KEPT, *SCORE_KEPT), None


@dataclass(frozen=True)
class ScoredRuns:
    """Every readable run's results and the benchmark's instances, held apart: the results keep
    their own columns only, so a hundred runs do not copy each instance's forty columns into 2.4
    million rows. `joined()` is the scored frame as a lazy join: a filter on run, model, protocol
    or condition runs before the join, so a page that picks one run joins that run's rows alone."""

    results: pl.DataFrame | pl.LazyFrame  # lazy from analysis.data.run_source: read per run when asked
    instances: pl.DataFrame
    problems: list[Unreadable]
    runs: pl.DataFrame | None = None  # one row per run (run_id, model, protocol, condition), when known apart from the rows

    def joined(self) -> pl.LazyFrame:
        return self.results.lazy().join(self.instances.lazy(), on="instance_id", how="inner")


def read_scored_runs(benchmark: str, root: Path) -> ScoredRuns:
    """Every readable run's results and the instances, and what could not be read.

    Args:
        benchmark: the benchmark's name.
        root: the cache root.
    Returns:
        ScoredRuns: a run with an unreadable part or manifest is left out whole and named in
        `problems` (path relative to the cache, reason); the other runs are unaffected.
    Raises:
        An error from reading the benchmark's own instances: without them nothing can be shown.
    """
    instances = scan_instances(benchmark, root).collect()
    frames, problems = [], []
    for folders in run_groups(benchmark, root):
        frame, problem = read_run(folders, root)
        if problem:
            problems.append(problem)
        elif frame is not None:
            frames.append(frame)
    kept = (*RESULT_FIELDS, *DIAGNOSTICS_KEPT, *JUDGE_KEPT, *SCORE_KEPT)
    results = pl.concat(frames) if frames else pl.DataFrame(schema={k: RESULT_SCHEMA[k] for k in kept})
    return ScoredRuns(results, instances, problems)


def read_scored(benchmark: str, root: Path) -> tuple[pl.DataFrame, list[Unreadable]]:
    """`read_scored_runs` joined: every readable run's scored results with the instances, and what
    could not be read (see there)."""
    runs = read_scored_runs(benchmark, root)
    return runs.joined().collect(), runs.problems


def _stale_runs(results: pl.LazyFrame) -> list[str]:
    """Runs holding choice rows with probabilities but no p_w: `aligned` derived by the old rule."""
    schema = results.collect_schema()
    if "p_w_first" not in schema:
        return []
    scored = (pl.col("protocol") == CHOICE) & pl.col("p_w_first").is_not_null()
    stale = scored & pl.col("p_w").is_null() if "p_w" in schema else scored
    return results.filter(stale).select("run_id").unique().collect().get_column("run_id").sort().to_list()


def select_results(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    models: Sequence[str] | None = None,
    protocols: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    scored_only: bool = True,
) -> pl.LazyFrame:
    """Filter by model, protocol, condition and split; drop unscored rows (errors) unless asked not to."""
    lf = frame.lazy()
    for column, wanted in (("model", models), ("protocol", protocols), ("condition", conditions), ("split", splits)):
        if wanted:
            lf = lf.filter(pl.col(column).is_in(list(wanted)))
    return lf.filter(pl.col("aligned").is_not_null()) if scored_only else lf
