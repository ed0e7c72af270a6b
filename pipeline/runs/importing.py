"""Bring your own results: scores made elsewhere, written into the cache as a run like any other, so
the dashboard and the reports analyse them.

Two inputs:
- a table (CSV, Parquet or JSON lines) with `instance_id` (or `id`) and either `aligned` (a score in
  [0, 1]) or `label` (W / L / TIE, as a judge gives), optionally `output` (the model's answer);
- the MVPBench authors' judged output (`*_judge_pairwise_polyjudge.json`: a JSON list of records with
  `id`, `model_answer`, per-judge verdicts under `judges` and the aggregate `final_label`).

Labels follow the paper's PAA: W counts 1, L and TIE 0; ABSTAIN is left unscored (aligned null with
the reason), never counted either way. Every problem names file, row and field; nothing is written
unless every row reads and every instance id is in the benchmark.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.cache import read_benchmark_meta, read_instances
from analysis.data.problems import DataError, Problem
from pipeline.protocols import scoring_version
from pipeline.runs.store import RunStore

LABEL_SCORE = {"W": 1.0, "L": 0.0, "TIE": 0.0}


def _table(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=None)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list):
                raise DataError([Problem(str(path), None, None, "top level is not a list of records")])
            return [_authors_record(r) if isinstance(r, dict) and "final_label" in r else r for r in data]
    except (OSError, ValueError, pl.exceptions.PolarsError) as error:
        raise DataError([Problem(str(path), None, None, f"cannot be read: {str(error).splitlines()[0][:160]}")]) from None
    return frame.to_dicts()


def _authors_record(record: dict[str, Any]) -> dict[str, Any]:
    """The authors' poly-judge record → our fields (per-judge scores kept as JSON)."""
    judges = record.get("judges") or {}
    scores = {name: {"w": j.get("score_w"), "l": j.get("score_l"), "model": j.get("score_model"), "label": j.get("label")}
              for name, j in judges.items() if isinstance(j, dict)}
    return {"instance_id": record.get("id"), "label": record.get("final_label"), "output": record.get("model_answer"),
            "judge_scores": json.dumps(scores, ensure_ascii=False) if scores else None, "judge": "authors-polyjudge"}


def _row(path: Path, index: int, record: dict[str, Any], known: set[str], problems: list[Problem]) -> dict[str, Any] | None:
    def problem(field: str | None, message: str) -> None:
        problems.append(Problem(str(path), index, field, message))

    instance = record.get("instance_id", record.get("id"))
    if instance is None or str(instance) not in known:
        problem("instance_id", f"{instance!r} is not an instance of this benchmark" if instance is not None else "is missing")
        return None
    label, aligned, error = record.get("label"), record.get("aligned"), None
    if label is not None:
        label = str(label).strip().upper()
        if label == "ABSTAIN":
            aligned, error = None, "the judges abstained"
        elif label not in LABEL_SCORE:
            problem("label", f"{label!r} is not one of W, L, TIE, ABSTAIN")
            return None
        else:
            aligned = LABEL_SCORE[label]
    elif aligned is None or isinstance(aligned, bool) or not isinstance(aligned, int | float) or not 0 <= aligned <= 1:
        problem("aligned", f"{aligned!r} is not a score in [0, 1] (or give a `label` column: W, L, TIE)")
        return None
    return {"instance_id": str(instance), "aligned": None if aligned is None else float(aligned), "error": error,
            "judge_label": None if label in (None, "ABSTAIN") else label, "output": record.get("output"),
            "judge": record.get("judge") or ("imported" if label is not None else None), "judge_scores": record.get("judge_scores")}


def import_results(path: Path, benchmark: str, model: str, *, protocol: str = "generate", condition: str = "profile",
                   root: Path | None = None) -> tuple[str, int]:
    """Write a results file into the cache as one run; (run_id, rows written).

    Raises:
        DataError: every problem with the file, naming file, row and field; nothing is written then.
    """
    path = Path(path)
    known = set(read_instances(benchmark, root).get_column("instance_id").to_list())
    problems: list[Problem] = []
    rows = [r for i, record in enumerate(_table(path), start=1) if (r := _row(path, i, record, known, problems))]
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=1):
        if seen.setdefault(row["instance_id"], i) != i:
            problems.append(Problem(str(path), i, "instance_id", f"{row['instance_id']!r} appears twice (first at row {seen[row['instance_id']]})"))
    if problems or not rows:
        raise DataError(problems or [Problem(str(path), None, None, "holds no results")])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    run_id = f"{model.replace('/', '-').lstrip('-.')}.{protocol}.{condition}.imported-{digest}"
    store = RunStore(benchmark, run_id, root)
    store.write_part([{**row, "key": f"{run_id}:{row['instance_id']}", "run_id": run_id, "model": model, "protocol": protocol,
                       "condition": condition} for row in rows])
    meta = read_benchmark_meta(benchmark, root)
    store.update_manifest(lambda m: {**m, "run_id": run_id, "protocol": protocol, "condition": condition,
                                     "model": {"name": model, "revision": None}, "backend": {"backend": "imported"},
                                     "scoring_version": scoring_version(protocol),  # as scored elsewhere: nothing to re-derive
                                     "imported_from": str(path), "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                     "benchmark_content_hash": meta.get("content_hash")})
    store.refresh_summary()
    return run_id, len(rows)
