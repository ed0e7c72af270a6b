"""Two models on the same instances (model A vs model B, or tuned vs base): did alignment change, for
whom, and did the gap between groups narrow?

- McNemar's test on a yes/no outcome per instance, which treats instances as independent; shown for
  comparison, as the paper-style statistic, and always on a named outcome (analysis.data.metrics.
  MCNEMAR_OUTCOMES): for choice and generate, items scored above ½; for logprob, items whose margin
  is above 0, i.e. the plain share's outcome, never OPA's (an OPA item is a share of six margins, so
  "above ½" would count margins above 2 and call two very different models equal). A logprob
  comparison without margins gets no McNemar: the paired cluster bootstrap is OPA's test.
- A paired cluster bootstrap on the scores (the shared design of analysis.stats.resampling): people are
  resampled with all their instances and both models' scores together, so the interval for the
  difference respects clustering and pairing.
- Per-group differences use the same replicates; "did the gap narrow?" compares the noise-corrected
  spread τ and the shrunk range of A and B over the groups tested in both, each replicate refitting
  the random-effects model (analysis.stats.disparity.replicate_disparity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from statsmodels.stats.contingency_tables import mcnemar

from analysis.stats.disparity import grouping_disparity, replicate_disparity
from analysis.data.contracts import LOGPROB
from analysis.stats.distributions import t_sf
from analysis.data.groupings import get_grouping
from analysis.stats.groups import Cells, analyse_groups, checked_estimand, person_level, user_cells, with_groups
from analysis.stats.resampling import DEFAULT_REPLICATES, bootstrap_interval, mean_interval, plain_interval, replicate_ratios, replicate_weights
from analysis.data.selection import checked_pair
from analysis.stats.significance import holm
from analysis.data.sizes import checked_minimum, kish_effective_people
from analysis.stats.variance import cr2_parts, intra_person_correlation, variance_components


def paired_frame(df: pl.DataFrame | pl.LazyFrame, model_a: str, model_b: str, key: str = "model") -> pl.DataFrame:
    """One row per instance scored by both: the instance's columns, aligned_a and aligned_b, A's
    protocol (Compare pairs runs of one protocol) and, where the rows carry it, margin_a and margin_b."""
    lf = df.lazy()
    margin = "margin" in lf.collect_schema().names()
    a = lf.filter(pl.col(key) == model_a).drop("run_id", "model", "condition", strict=False)
    b = lf.filter(pl.col(key) == model_b).select("instance_id", pl.col("aligned").alias("aligned_b"),
                                                  *([pl.col("margin").alias("margin_b")] if margin else []))
    renamed = {"aligned": "aligned_a", **({"margin": "margin_a"} if margin else {})}
    return a.rename(renamed).join(b, on="instance_id", how="inner").collect()


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on a yes/no outcome per instance; instances as independent, so too optimistic."""

    a_only: int  # instances whose outcome is yes for A only
    b_only: int
    statistic: float
    p_value: float
    exact: bool  # the exact binomial test (fewer than 25 discordant instances)
    outcome: str = "decision"  # what counts as yes: a key of analysis.data.metrics.MCNEMAR_OUTCOMES


@dataclass(frozen=True)
class OverallDifference:
    """B − A over every shared instance, with its paired cluster-bootstrap interval (None: too few people)."""

    paa_a: float
    paa_b: float
    diff: float
    ci_lo: float | None
    ci_hi: float | None
    instances: int
    users: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class PairedComparison:
    """What `paired_comparison` finds; `groups` and `disparity_change` only with a grouping."""

    overall: OverallDifference
    mcnemar: McNemar | None  # None: a logprob pair without margins (no yes/no outcome to count)
    # per group: users, effective_users, paa_a, paa_b, diff, ci_lo, ci_hi, p_value, p_holm (paired t, Holm over the tested), small
    groups: pl.DataFrame | None = None
    disparity_change: pl.DataFrame | None = None  # statistic (tau, I2, shrunk/observed range): a, b, change, interval
    # logprob: B − A of the plain share preferring answer_w (margin > 0), a second metric beside OPA
    plain: OverallDifference | None = None


def _outcomes(paired: pl.DataFrame, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Each instance's yes/no for A and B: "decision" is aligned > ½, "plain" is margin > 0."""
    if outcome == "decision":
        return paired.get_column("aligned_a").to_numpy() > 0.5, paired.get_column("aligned_b").to_numpy() > 0.5
    if outcome == "plain":
        return (paired.get_column("margin_a").to_numpy() > 0), (paired.get_column("margin_b").to_numpy() > 0)
    raise ValueError(f"unknown McNemar outcome '{outcome}': one of decision, plain")


def mcnemar_test(paired: pl.DataFrame, outcome: str = "decision") -> McNemar:
    """McNemar's test of A against B on one yes/no outcome per instance.

    Args:
        paired: `paired_frame` output (margin_a and margin_b for the "plain" outcome).
        outcome: "decision" (aligned > ½: choice and generate) or "plain" (margin > 0: logprob's
            plain share preferring answer_w; never OPA, which has no yes/no per item).
    Returns:
        A McNemar naming its outcome; exact binomial under 25 discordant instances.
    """
    a, b = _outcomes(paired, outcome)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = table[0, 1] + table[1, 0]
    result = mcnemar(table, exact=discordant < 25, correction=True)
    return McNemar(int(table[0, 1]), int(table[1, 0]), float(result.statistic), float(result.pvalue), bool(discordant < 25),
                   outcome)


def _has_margins(paired: pl.DataFrame) -> bool:
    return all(c in paired.columns and paired.get_column(c).null_count() == 0 for c in ("margin_a", "margin_b"))


def _is_logprob(paired: pl.DataFrame) -> bool:
    """A logprob pair: named so by its protocol, or (a frame without one) by margins on every row."""
    if "protocol" in paired.columns:
        return bool((paired.get_column("protocol") == LOGPROB).any())
    return _has_margins(paired)


def _paired_test(paired: pl.DataFrame) -> McNemar | None:
    """McNemar on the outcome the pair's metric has: decisions, or for logprob the plain share's
    margin > 0 (named as such); None for logprob rows without margins."""
    if not _is_logprob(paired):
        return mcnemar_test(paired, "decision")
    return mcnemar_test(paired, "plain") if _has_margins(paired) else None


def _overall(W: np.ndarray, a: Cells, b: Cells, alpha: float, estimand: str = "person") -> OverallDifference:
    """B − A over every shared instance, with its paired interval: under the per-person estimand the
    mean over people of each person's own B − A (each person once), else over items."""
    instances = int(a.N.sum())
    if estimand == "person":  # each person's share over all their shared items, then the mean over people
        n = a.N.sum(axis=1)
        a = Cells(a.groups, a.users, (a.S.sum(axis=1) / n)[:, None], np.ones((len(n), 1)), None)
        b = Cells(b.groups, b.users, (b.S.sum(axis=1) / n)[:, None], np.ones((len(n), 1)), None)
    n = a.N.sum()
    # a difference: everyone at 0 is no boundary (the shares' one-sided interval would claim B ≥ A)
    lo, hi = mean_interval(W, b.S.sum(axis=1) - a.S.sum(axis=1), a.N.sum(axis=1), alpha, share=False)
    return OverallDifference(float(a.S.sum() / n), float(b.S.sum() / n), float((b.S.sum() - a.S.sum()) / n), lo, hi, instances,
                             len(a.users))


def _plain_overall(frame: pl.DataFrame, keys: Sequence[str], W: np.ndarray, alpha: float, estimand: str) -> OverallDifference | None:
    """The plain share's B − A (margin > 0 as each item's 0/1) on the same people and replicates."""
    if not (_is_logprob(frame) and _has_margins(frame)):
        return None
    plain = frame.with_columns((pl.col("margin_a") > 0).cast(pl.Float64).alias("aligned_a"),
                               (pl.col("margin_b") > 0).cast(pl.Float64).alias("aligned_b"))
    return _overall(W, *_paired_cells(plain, keys), alpha, estimand)


def _paired_cells(paired: pl.DataFrame, by: Sequence[str], difference: bool = False) -> tuple[Cells, ...]:
    """A's and B's cells (people × groups, in one order); with `difference` also the cells of each
    item's B − A, whose sums of squares give the intra-person correlation of the changes."""
    base = with_groups(paired.rename({"aligned_a": "aligned"}), by)
    cells_a = user_cells(base, by)
    cells_b = user_cells(base.with_columns(paired.get_column("aligned_b").alias("aligned")), by)
    if not difference:
        return cells_a, cells_b
    change = paired.get_column("aligned_b") - paired.get_column("aligned_a")
    return cells_a, cells_b, user_cells(base.with_columns(change.alias("aligned")), by)


def _difference_interval(W: np.ndarray, a: Cells, b: Cells, df: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Paired interval of each group's B − A from the shared replicates (same people, same weights)."""
    if not W.shape[0]:
        nan = np.full(a.S.shape[1], np.nan)
        return nan, nan
    return bootstrap_interval(replicate_ratios(W, b.S, b.N) - replicate_ratios(W, a.S, a.N), kish_effective_people(a.N), df, alpha)


def _difference_tests(diff: np.ndarray, var: np.ndarray, df: np.ndarray, tested: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each tested group's B − A against 0, and Holm over the tested groups: a t test on the
    per-person differences with their CR2 variance and Bell–McCaffrey df (the small-sample design of
    analysis.stats.significance). Holm makes "these places changed" one family-wise statement when a
    verdict names several (each place's 95% interval alone would name some by chance).

    Args:
        diff, var, df: `cr2_parts(b.S - a.S, a.N)`: each group's B − A, its variance and df.
        tested: (groups,) the groups with enough effective people.
    Returns:
        (p, p_holm), NaN for an untested group and where no one's score varies but the mean moved
        (no variance to test against); a group in which nobody changed has p = 1.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * t_sf(np.abs(diff / np.sqrt(var)), df)
    p = np.where(tested & (var == 0) & (diff == 0), 1.0, np.where(tested & (var > 0) & np.isfinite(p), p, np.nan))
    return p, holm(p)


def _disparity_change(W: np.ndarray, a: Cells, b: Cells, by: Sequence[str], alpha: float, minimum: int) -> pl.DataFrame:
    """Each disparity statistic for A and B over the groups tested in both, and B − A; τ and the
    shrunk range carry a paired-bootstrap interval (omitted, with a note, if it misses its estimate)."""
    per_person = all(get_grouping(g).per_person for g in by)
    none = np.zeros((0, len(a.users)), dtype=np.float32)
    fit_a = analyse_groups(a, none, alpha=alpha, min_users=minimum, per_person=per_person)
    fit_b = analyse_groups(b, none, alpha=alpha, min_users=minimum, per_person=per_person)
    tested = fit_a.columns["tested"] & fit_b.columns["tested"]
    names = [str(x) for x in a.groups.to_series(0).to_list()]
    rows_a, _ = grouping_disparity(fit_a.columns["paa"], fit_a.fit_variance, tested, names, alpha)
    rows_b, _ = grouping_disparity(fit_b.columns["paa"], fit_b.fit_variance, tested, names, alpha)
    reps = None
    if tested.sum() >= 2 and W.shape[0]:
        rep_a = replicate_disparity(W, a.S, a.N, tested, fit_a.df, fit_a.pooled_variance)
        rep_b = replicate_disparity(W, b.S, b.N, tested, fit_b.df, fit_b.pooled_variance)
        reps = {k: rep_b[k] - rep_a[k] for k in rep_a}
    out = []
    for ra, rb in zip(rows_a, rows_b, strict=True):
        stat = ra["statistic"]
        change = None if ra["estimate"] is None else rb["estimate"] - ra["estimate"]
        lo = hi = note = None
        if reps is not None and stat in reps and change is not None:
            lo, hi = (float(x[0]) for x in plain_interval(reps[stat][:, None], alpha))
            if not lo <= change <= hi:
                lo = hi = None
                note = "the bootstrap interval does not cover its own estimate here: not shown"
        out.append({"statistic": stat, "a": ra["estimate"], "b": rb["estimate"], "change": change, "ci_lo": lo, "ci_hi": hi,
                    "groups": int(tested.sum()), "note": note or ra.get("note")})
    return pl.DataFrame(out, schema_overrides={k: pl.Float64 for k in ("a", "b", "change", "ci_lo", "ci_hi")} | {"note": pl.String},
                        nan_to_null=True)


def paired_comparison(
    paired: pl.DataFrame, by: str | Sequence[str] | None = None, *, B: int = DEFAULT_REPLICATES, seed: int = 0,
    alpha: float = 0.05, min_users: int | None = None, estimand: str = "person",
) -> PairedComparison:
    """B − A on the same instances.

    Args:
        paired: `paired_frame` output (aligned_a, aligned_b per instance).
        by: optional grouping(s) for per-group differences and the change in disparity.
        B, seed, alpha: the shared bootstrap's settings (analysis.stats.resampling).
        min_users: minimum effective people for a group to be tested (None: the default).
        estimand: "person" (default: each person's own B − A counts once) or "items" (the paper's).
    Returns:
        A PairedComparison: overall B − A and McNemar's test on the outcome it names (none for a
        logprob pair without margins); for logprob with margins also the plain share's B − A; with
        `by` also the per-group B − A with a paired interval and a paired t test (p, Holm over the
        tested groups), and the disparity change (τ, I², shrunk and observed range for A, B and B − A).
    """
    minimum = checked_minimum(min_users)
    if paired.height == 0:
        raise ValueError("no instance was scored by both models: compare runs over the same instances")
    groups = [by] if isinstance(by, str) else list(by or [])
    keys = groups or ["_all"]
    frame = paired if groups else paired.with_columns(pl.lit("all").alias("_all"))
    cells_a, cells_b, *changes = _paired_cells(frame, keys, difference=bool(groups))
    W = replicate_weights(len(cells_a.users), B, seed)
    overall = _overall(W, cells_a, cells_b, alpha, checked_estimand(estimand))
    test, plain = _paired_test(paired), _plain_overall(frame, keys, W, alpha, estimand)
    if not groups:
        return PairedComparison(overall, test, plain=plain)
    if estimand == "person":  # every group statistic below reads each person's own shares (analysis.stats.groups.person_level)
        cells_a, cells_b, changes = person_level(cells_a), person_level(cells_b), [person_level(changes[0])]
    paa_a, paa_b = cells_a.S.sum(0) / cells_a.N.sum(0), cells_b.S.sum(0) / cells_b.N.sum(0)
    # the df's working model knows how much of a change is the person's (as the group tests' does):
    # with people of very unequal sizes, independent errors would overstate the df and the test's power
    rho = intra_person_correlation(*variance_components(changes[0].S, changes[0].N, changes[0].S2))
    diff, var, df = cr2_parts(changes[0].S, cells_a.N, rho)
    d_lo, d_hi = _difference_interval(W, cells_a, cells_b, df, alpha)
    n_eff = kish_effective_people(cells_a.N)
    p, p_holm = _difference_tests(diff, var, df, n_eff >= minimum)
    per_group = cells_a.groups.with_columns(
        pl.Series("users", (cells_a.N > 0).sum(axis=0)), pl.Series("effective_users", n_eff), pl.Series("paa_a", paa_a),
        pl.Series("paa_b", paa_b), pl.Series("diff", paa_b - paa_a), pl.Series("ci_lo", d_lo, nan_to_null=True),
        pl.Series("ci_hi", d_hi, nan_to_null=True), pl.Series("p_value", p, nan_to_null=True),
        pl.Series("p_holm", p_holm, nan_to_null=True), pl.Series("small", n_eff < minimum))
    return PairedComparison(overall, test, per_group, _disparity_change(W, cells_a, cells_b, keys, alpha, minimum), plain)


def compare_runs(scored: pl.DataFrame | pl.LazyFrame, run_a: str, run_b: str, by: str | Sequence[str] | None = None,
                 **options) -> PairedComparison | None:
    """`paired_comparison` of two runs (B − A) on the instances both scored; None when they share
    none. What the Compare page, the Map's difference mode and `mvpbench tune --evaluate` report.

    Args:
        scored: scored rows holding both runs (run_id, protocol, instance_id, user_id, aligned, groups).
        run_a, run_b: the baseline and the compared run.
        by: optional grouping(s); options: `paired_comparison`'s settings.
    Returns:
        A PairedComparison over the shared instances (its overall figures cover only the people both
        scored: see `shared_people_note`), or None.
    Raises:
        ValueError: when the runs measure different metrics (PAA against OPA) or hold a NaN score.
    """
    checked_pair(scored, run_a, run_b)
    paired = paired_frame(scored, run_a, run_b, key="run_id")
    return paired_comparison(paired, by, **options) if paired.height else None


def run_people(scored: pl.DataFrame | pl.LazyFrame, run_ids: Sequence[str]) -> dict[str, int]:
    """How many people each run scored (its leaderboard figure's population).

    Args:
        scored: scored rows with run_id, user_id and aligned.
        run_ids: the runs to count.
    Returns:
        run id → people with at least one scored item (0 for a run with none).
    """
    counts = (scored.lazy().filter(pl.col("run_id").is_in(list(run_ids)) & pl.col("aligned").is_not_null())
              .group_by("run_id").agg(pl.col("user_id").n_unique()).collect())
    found = dict(counts.iter_rows())
    return {run: int(found.get(run, 0)) for run in run_ids}


def shared_people_note(overall: OverallDifference, people_a: int, people_b: int) -> str | None:
    """Why a comparison's A and B figures can differ from each run's own (the Overview's): they are
    over the shared instances, hence the people both runs scored.

    Args:
        overall: `compare_runs(...).overall`.
        people_a, people_b: the people each run scored on its own (`run_people`).
    Returns:
        One sentence when either run's own figure covers other people, else None.
    """
    shared = f"A's and B's figures here are over the {overall.users:,} people both runs scored"
    if people_a != overall.users and people_b != overall.users:
        return f"{shared} (the Overview's figures cover {people_a:,} people for A and {people_b:,} for B)."
    if people_a != overall.users:
        return f"{shared} (the Overview's figure for A covers {people_a:,} people)."
    if people_b != overall.users:
        return f"{shared} (the Overview's figure for B covers {people_b:,} people)."
    return None


def comparable_pair(runs: pl.DataFrame) -> tuple[str, str] | None:
    """The most meaningful default comparison among runs (run_id, model, protocol, condition): a
    tuned model against its base, else one model under two conditions (e.g. profile vs blind), else
    two models; always under one protocol, so both sides are the same metric.

    Args:
        runs: one row per run.
    Returns:
        (run_a, run_b), A the baseline, or None when no two runs share a protocol.
    """
    rows = runs.sort("run_id").rows(named=True)
    same = [(a, b) for a in rows for b in rows if a["run_id"] != b["run_id"] and a["protocol"] == b["protocol"]]
    tuned = [(a, b) for a, b in same if "+" in b["model"] and b["model"].split("+", 1)[0] == a["model"]
             and a["condition"] == b["condition"]]
    conditions = [(a, b) for a, b in same if a["model"] == b["model"] and a["condition"] == "blind" and b["condition"] != "blind"]
    models = [(a, b) for a, b in same if a["condition"] == b["condition"]]
    for candidates in (tuned, conditions, models, same):
        if candidates:
            a, b = candidates[0]
            return a["run_id"], b["run_id"]
    return None
