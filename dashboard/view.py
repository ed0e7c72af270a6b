"""What a page's functions are about, as one object: the benchmark and its scored results (from the
page's opening, `dashboard.page.open_page`) and, as the person picks them, the run, the grouping, the
minimum of effective people and the place. Functions take a `View` instead of eight positional
arguments; a selection is added with `dataclasses.replace` (the object is frozen, so no function
changes what another one sees).

Cached functions never take a View: Streamlit would try to hash the scored frame. They take
`view.scored` as `_scored` (not hashed) with `view.state` and the selections as plain strings and
numbers, so every input that changes their answer is in their key."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from analysis.data.results import metric_name
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE
from dashboard.data import load_instances, load_summaries, run_diagnostics, run_index

if TYPE_CHECKING:
    from analysis.present.provenance import Provenance


class Run(NamedTuple):
    """A run as the pickers name it (one run per model, protocol and condition)."""

    model: str
    protocol: str
    condition: str


class Place(NamedTuple):
    """Only the people of one place: (the place column, its value), or (None, None) for everyone."""

    column: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class View:
    """One page run's view.

    Attributes:
        name, root, meta: the benchmark, its cache folder and its benchmark.json.
        state: identifies `scored` for cached functions (root, name, content hash, runs' fingerprint).
        scored: the scored results, lazy (read run by run from disk): filter to the runs shown before collecting.
        run, run_id: the picked run (None until picked). grouping: the picked grouping (None until picked).
        min_users: the minimum of effective people per group. place: the people shown (everyone by default).
        provenance: where an export's numbers come from (`dashboard.downloads.report_provenance`), once built.
    """

    name: str
    root: Path
    meta: dict = field(repr=False, compare=False)
    state: str
    scored: pl.LazyFrame = field(repr=False, compare=False)
    run: Run | None = None
    run_id: str | None = None
    grouping: str | None = None
    min_users: int = MIN_EFFECTIVE_PEOPLE
    place: Place = Place()
    provenance: Provenance | None = field(default=None, repr=False, compare=False)
    runs: pl.DataFrame | None = field(default=None, repr=False, compare=False)  # one row per readable run
    signature: str = ""  # the runs' fingerprint this page read (the summaries' cache key)

    @property
    def index(self) -> pl.DataFrame:
        """One row per run (run_id, model, protocol, condition), sorted by run id."""
        if self.runs is None:  # a view made without the runs' table (tests): read from the rows
            return self.scored.select("run_id", "model", "protocol", "condition").unique().sort("run_id").collect()
        return run_index(self.runs)

    @property
    def summary(self) -> pl.DataFrame:
        """Every run's person-level summary (whole-person rows), loaded once per cache state on first use:
        the leaderboard, the findings and the runs' diagnostics read it, never the result rows."""
        return load_summaries(self.name, str(self.root), self.content_hash, self.signature)

    def diagnostics(self, run_ids: tuple[str, ...] | None = None) -> pl.DataFrame:
        """Choice diagnostics of the named runs (None: every run), from their summaries (dashboard.data.run_diagnostics)."""
        return run_diagnostics(self.name, str(self.root), self.content_hash, self.signature, run_ids)

    @property
    def instances(self) -> pl.DataFrame:
        return load_instances(self.name, str(self.root), self.content_hash)

    @property
    def content_hash(self) -> str:
        return self.meta.get("content_hash", "")

    @property
    def metric(self) -> str:
        """The picked run's metric (its protocol's)."""
        return metric_name(self.run.protocol)

    def with_run(self, run: tuple[str, str, str], **changes) -> View:
        """This view with `run` (model, protocol, condition) picked, its run id looked up, and `changes`."""
        run = Run(*run)
        rows = self.index.filter((pl.col("model") == run.model) & (pl.col("protocol") == run.protocol)
                                 & (pl.col("condition") == run.condition))
        return replace(self, run=run, run_id=rows.item(0, "run_id"), **changes)

    def having(self, **changes) -> View:
        """This view with `changes` (dataclasses.replace)."""
        return replace(self, **changes)
