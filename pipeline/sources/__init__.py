"""Source loaders: each maps a published format onto the Instance contract (analysis.data.contracts).

    dvb        released MVPBench / DiverValue-Bench JSON (full file or DVB-train/val/test)
    prism      PRISM survey.jsonl (+ conversations.jsonl), nested or flattened
    ufp4       UF-P-4 out-of-domain {prompt, chosen, rejected} files
    instances  a contract parquet file (what the cache holds)
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analysis.data.contracts import validate_instances
from analysis.data.problems import DataError, Problem
from pipeline.sources.dvb import load_dvb
from pipeline.sources.prism import PrismData, load_prism, load_prism_dir
from pipeline.sources.reading import read_json_records
from pipeline.sources.ufp4 import UFP4_FILES, load_ufp4

FORMATS = ("auto", "dvb", "prism", "ufp4", "instances")


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "survey.jsonl").exists():
            return "prism"
        if any((path / name).exists() for name in UFP4_FILES):
            return "ufp4"
        if list(path.glob("DVB*.json")):
            return "dvb"
        raise DataError([Problem(str(path), None, None, "cannot tell the format of this folder; pass --format")])
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "instances"
    if suffix == ".jsonl":
        return "prism"
    if suffix == ".json":
        _, first = read_json_records(path)[0]
        return "ufp4" if {"prompt", "chosen", "rejected"} <= set(first) else "dvb"
    raise DataError([Problem(str(path), None, None, f"unknown file type '{suffix}': expected .json, .jsonl or .parquet; pass --format")])


def read_instances_file(path: Path) -> pl.DataFrame:
    """A contract parquet file, validated."""
    if not path.exists():
        raise DataError([Problem(str(path), None, None, "file does not exist")])
    try:
        df = pl.read_parquet(path)
    except Exception as err:  # polars raises several error types for a damaged file
        raise DataError([Problem(str(path), None, None, f"is not a readable parquet file ({type(err).__name__})")]) from None
    problems = validate_instances(df, str(path))
    if problems:
        raise DataError(problems)
    return df


def load_source(paths: list[Path], fmt: str = "auto") -> pl.DataFrame | PrismData:
    """Load files of one format; raise `DataError` naming every problem."""
    if not paths:
        raise ValueError("no input files")
    if fmt == "auto":
        fmt = detect_format(paths[0])
    if fmt == "dvb":
        if len(paths) == 1 and paths[0].is_dir():
            paths = sorted(paths[0].glob("DVB*.json"))
        return load_dvb(paths)
    if fmt == "ufp4":
        return load_ufp4(paths)
    if fmt == "prism":
        if len(paths) == 1 and paths[0].is_dir():
            return load_prism_dir(paths[0])
        by_name = {p.name: p for p in paths}
        conversations = by_name.get("conversations.jsonl")
        survey = by_name.get("survey.jsonl")
        if survey is None and conversations is not None:  # conversations are checked against their survey
            survey = conversations.parent / "survey.jsonl"
            if not survey.exists():
                raise DataError([Problem(str(conversations), None, None, f"needs the survey beside it to check user ids: {survey} not found")])
        survey = survey or paths[0]
        if conversations is None and survey.name == "survey.jsonl" and (survey.parent / "conversations.jsonl").exists():
            conversations = survey.parent / "conversations.jsonl"
        return load_prism(survey, conversations)
    if fmt == "instances":
        return pl.concat([read_instances_file(p) for p in paths])
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "PrismData", "detect_format", "load_dvb", "load_prism", "load_source", "load_ufp4"]
