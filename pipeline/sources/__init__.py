"""Source loaders: each maps a published format onto the Instance contract (analysis.data.contracts).

    dvb        released MVPBench / DiverValue-Bench JSON (full file or DVB-train/val/test)
    prism      PRISM survey.jsonl (+ conversations.jsonl), nested or flattened
    ufp4       UF-P-4 out-of-domain {prompt, chosen, rejected} files
    instances  a contract parquet file (what the cache holds)

Each is registered in `SOURCES` with its loader and detector (`Source`); `--format auto` asks the
detectors in registration order, and no caller branches on a format's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis.data.contracts import validate_instances
from analysis.data.problems import DataError, Problem
from pipeline.registry import Registry
from pipeline.sources.dvb import load_dvb, load_dvb_valid_rows
from pipeline.sources.prism import PrismData, load_prism, load_prism_dir
from pipeline.sources.reading import read_json_records
from pipeline.sources.ufp4 import UFP4_FILES, load_ufp4

@dataclass(frozen=True)
class Source:
    """A registered source format and what its callers need to know of it.

    Attributes:
        load: the files (or one folder) of this format -> Instances (or PRISM's people and conversations).
        detect: whether a path is of this format (`detect_format` asks each in registration order).
        suffixes: the file suffixes it reads, for the message when no source knows a file.
        text_profile: its people are known by a profile text (`self_description`), which the
            prompts show in place of the demographic block.
        load_valid_rows: the valid rows and every problem of the rows left out (`data import
            --skip-invalid`), or None when the format has no such reading.
    """

    load: Callable[[list[Path]], pl.DataFrame | PrismData]
    detect: Callable[[Path], bool]
    suffixes: tuple[str, ...] = ()
    text_profile: bool = False
    load_valid_rows: Callable[[list[Path]], tuple[pl.DataFrame, list[Problem]]] | None = None


SOURCES: Registry[Source] = Registry("format")


def detect_format(path: Path) -> str:
    """The registered source that recognises `path` (the first, in registration order).

    Raises:
        DataError: no source recognises it (naming the path and the suffixes known).
    """
    for name, source in SOURCES.items():
        if source.detect(path):
            return name
    if path.is_dir():
        raise DataError([Problem(str(path), None, None, "cannot tell the format of this folder; pass --format")])
    suffixes = sorted({s for _, source in SOURCES.items() for s in source.suffixes})
    raise DataError([Problem(str(path), None, None, f"unknown file type '{path.suffix.lower()}': expected "
                             f"{', '.join(suffixes[:-1])} or {suffixes[-1]}; pass --format")])


def text_profile(source: str | None) -> bool:
    """Whether an instance of `source` knows its person by a profile text (False for a source not registered)."""
    return source in SOURCES and SOURCES.get(source).text_profile


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
    """Load files of one format (`auto`: told by `detect_format` from the first); raise `DataError`
    naming every problem, a ValueError for an unknown format."""
    if not paths:
        raise ValueError("no input files")
    if fmt == "auto":
        fmt = detect_format(paths[0])
    return SOURCES.get(fmt).load(paths)


def _dvb_files(paths: list[Path]) -> list[Path]:
    return sorted(paths[0].glob("DVB*.json")) if len(paths) == 1 and paths[0].is_dir() else paths


def _load_dvb(paths: list[Path]) -> pl.DataFrame:
    return load_dvb(_dvb_files(paths))


def _load_dvb_valid_rows(paths: list[Path]) -> tuple[pl.DataFrame, list[Problem]]:
    return load_dvb_valid_rows(_dvb_files(paths))


def _load_prism(paths: list[Path]) -> PrismData:
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


def _is_ufp4(path: Path) -> bool:
    if path.is_dir():
        return any((path / name).exists() for name in UFP4_FILES)
    if path.suffix.lower() != ".json":
        return False
    _, first = read_json_records(path)[0]
    return {"prompt", "chosen", "rejected"} <= set(first)


# Registration order is detection order: the UF-P-4 check reads a .json file's first record, and a
# .json file it does not claim is DVB.
SOURCES.register("instances", Source(lambda paths: pl.concat([read_instances_file(p) for p in paths]),
                                     lambda path: not path.is_dir() and path.suffix.lower() == ".parquet", (".parquet",)))
SOURCES.register("prism", Source(_load_prism, lambda path: (path / "survey.jsonl").exists() if path.is_dir()
                                 else path.suffix.lower() == ".jsonl", (".jsonl",)))
SOURCES.register("ufp4", Source(load_ufp4, _is_ufp4, (".json",), text_profile=True))
SOURCES.register("dvb", Source(_load_dvb, lambda path: bool(list(path.glob("DVB*.json"))) if path.is_dir()
                               else path.suffix.lower() == ".json", (".json",), load_valid_rows=_load_dvb_valid_rows))
FORMATS = ("auto", *SOURCES.names())


__all__ = ["FORMATS", "SOURCES", "PrismData", "Source", "detect_format", "load_dvb", "load_prism", "load_source", "load_ufp4"]
