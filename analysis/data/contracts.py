"""The data contracts (DESIGN §3): one definition of an Instance, imported by every loader, the demo
generator, the cache and the analysis.

An Instance is one benchmark item: a question with a value-aligned answer (`answer_w`) and a
value-contradicting one (`answer_l`), and the profile of the person it was written for. The profile
part alone (`PROFILE_SCHEMA`) is what a PRISM survey row maps to before questions exist.

`validate_instances` returns every problem it finds, as `Problem`s naming file, row and field; it
never raises on bad data. Row numbers come from a `_row` column when the loader kept the record's
position in its source file, else from the frame's order (1-based).
"""

from __future__ import annotations

import polars as pl

from analysis.data.geography import NON_COUNTRY_CODES, is_country_code
from analysis.data.problems import Problem
from analysis.data.values import VALUE_DIMENSIONS, VALUE_LABELS

PREFS_DTYPE = pl.Struct({dim: pl.Int64 for dim in VALUE_DIMENSIONS})
LABELS_DTYPE = pl.Struct({dim: pl.String for dim in VALUE_DIMENSIONS})

DEMOGRAPHIC_FIELDS: tuple[str, ...] = (
    "age",
    "gender",
    "education",
    "employment_status",
    "marital_status",
    "english_proficiency",
    "religion",
    "ethnicity",
)
GEOGRAPHY_FIELDS: tuple[str, ...] = (
    "birth_country",
    "birth_iso3",
    "reside_country",
    "reside_iso3",
    "un_subregion",
    "special_region",
)

PROFILE_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "stated_prefs": PREFS_DTYPE,  # a null dimension was not stated by the source
    "value_labels": LABELS_DTYPE,
    "preference": pl.String(),
    **{f: pl.String() for f in DEMOGRAPHIC_FIELDS},
    **{f: pl.String() for f in GEOGRAPHY_FIELDS},
    "self_description": pl.String(),  # optional free text (may be null)
    "system_string": pl.String(),  # optional free text (may be null)
}

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "instance_id": pl.String(),
    "question": pl.String(),
    "answer_w": pl.String(),
    "answer_l": pl.String(),
    "split": pl.String(),
    "source": pl.String(),
    # Optional provenance; null when a source has none.
    "conversation_id": pl.String(),
    "domain": pl.String(),
    "target_dimension": pl.String(),
}

INSTANCE_SCHEMA: dict[str, pl.DataType] = {
    "instance_id": ITEM_SCHEMA["instance_id"],
    "user_id": PROFILE_SCHEMA["user_id"],
    **{k: v for k, v in ITEM_SCHEMA.items() if k != "instance_id"},
    **{k: v for k, v in PROFILE_SCHEMA.items() if k != "user_id"},
}
INSTANCE_COLUMNS: tuple[str, ...] = tuple(INSTANCE_SCHEMA)

OPTIONAL_FIELDS = frozenset({"self_description", "system_string", "conversation_id", "domain", "target_dimension"})
SPLITS = ("train", "val", "test", "unsplit")

ROW = "_row"  # the record's 1-based position in its source file, kept by loaders for error messages


def _row_numbers(df: pl.DataFrame) -> pl.Expr:
    return pl.col(ROW) if ROW in df.columns else pl.int_range(1, pl.len() + 1)


def _check_columns(df: pl.DataFrame, schema: dict[str, pl.DataType], file: str) -> list[Problem]:
    problems = []
    for name, dtype in schema.items():
        if name not in df.columns:
            problems.append(Problem(file, None, name, "required column is missing"))
        elif df.schema[name] != dtype:
            problems.append(Problem(file, None, name, f"has type {df.schema[name]}, expected {dtype}"))
    return problems


def _failures(df: pl.DataFrame, condition: pl.Expr, file: str, field: str, message: str | pl.Expr) -> list[Problem]:
    """One Problem per row where `condition` holds (null conditions count as no failure)."""
    msg = message if isinstance(message, pl.Expr) else pl.lit(message)
    bad = df.select(_row_numbers(df).alias("row"), condition.fill_null(False).alias("bad"), msg.alias("msg")).filter(
        pl.col("bad")
    )
    return [Problem(file, int(r), field, m) for r, m in bad.select("row", "msg").iter_rows()]


def validate_profiles(df: pl.DataFrame, file: str = "<frame>") -> list[Problem]:
    """Check the profile part of the contract (also used for PRISM users before questions exist)."""
    problems = _check_columns(df, PROFILE_SCHEMA, file)
    if problems:
        return problems
    for name in ("user_id", "preference", *DEMOGRAPHIC_FIELDS, *GEOGRAPHY_FIELDS):
        problems += _failures(
            df,
            pl.col(name).is_null() | (pl.col(name).str.strip_chars() == ""),
            file,
            name,
            "is missing or empty (use an explicit category such as 'Prefer not to say' or 'Unknown')",
        )
    for dim in VALUE_DIMENSIONS:
        score = pl.col("stated_prefs").struct.field(dim)
        problems += _failures(
            df,
            (score < 0) | (score > 100),
            file,
            f"stated_prefs.{dim}",
            pl.format("{} is outside 0–100", score),
        )
        label = pl.col("value_labels").struct.field(dim)
        problems += _failures(
            df,
            label.is_null() | ~label.is_in(list(VALUE_LABELS)),
            file,
            f"value_labels.{dim}",
            pl.format("'{}' is not one of {}", label.fill_null("null"), pl.lit(", ".join(VALUE_LABELS))),
        )
    for code_field in ("birth_iso3", "reside_iso3"):
        codes = df.get_column(code_field).drop_nulls().unique().to_list()
        unknown = [c for c in codes if not is_country_code(c)]
        if unknown:
            problems += _failures(
                df,
                pl.col(code_field).is_in(unknown),
                file,
                code_field,
                pl.format(
                    "'{}' is not an ISO 3166 alpha-3 code (or one of {})",
                    pl.col(code_field),
                    pl.lit(", ".join(NON_COUNTRY_CODES)),
                ),
            )
    return problems


def validate_instances(df: pl.DataFrame, file: str = "<frame>") -> list[Problem]:
    """Every problem with a frame of Instances: types, empty text, identical answers, ranges, codes, ids."""
    problems = _check_columns(df, INSTANCE_SCHEMA, file)
    if problems:
        return problems
    problems = validate_profiles(df.drop([c for c in ITEM_SCHEMA if c != "instance_id"]), file)
    for name in ("instance_id", "question", "answer_w", "answer_l", "split", "source"):
        problems += _failures(
            df, pl.col(name).is_null() | (pl.col(name).str.strip_chars() == ""), file, name, "is missing or empty"
        )
    # identical up to surrounding white space only: "Positive" vs "positive" is a real pair in AlignX's UF-P-4
    normalised_w = pl.col("answer_w").str.strip_chars()
    normalised_l = pl.col("answer_l").str.strip_chars()
    problems += _failures(
        df,
        (normalised_w == normalised_l) & (normalised_w != ""),
        file,
        "answer_l",
        "is identical to answer_w: an instance needs two different answers",
    )
    problems += _failures(
        df,
        ~pl.col("split").is_in(list(SPLITS)) & pl.col("split").is_not_null() & (pl.col("split") != ""),
        file,
        "split",
        pl.format("'{}' is not one of {}", pl.col("split"), pl.lit(", ".join(SPLITS))),
    )
    first_row = _row_numbers(df).first().over("instance_id")
    problems += _failures(
        df,
        pl.col("instance_id").is_duplicated() & (_row_numbers(df) != first_row) & pl.col("instance_id").is_not_null(),
        file,
        "instance_id",
        pl.format("duplicate id '{}' (first seen at row {})", pl.col("instance_id"), first_row),
    )
    return sorted(problems, key=lambda p: (p.row or 0, p.field or ""))


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Columns in contract order, optional columns added as nulls; loader bookkeeping (`_row`) dropped."""
    missing_optional = [pl.lit(None, dtype=INSTANCE_SCHEMA[c]).alias(c) for c in OPTIONAL_FIELDS if c not in df.columns]
    return df.with_columns(missing_optional).select(INSTANCE_COLUMNS)


# --- Results -------------------------------------------------------------------------------------
# One model, one instance, one protocol, one condition. `aligned` in [0, 1] is what PAA averages and
# all the analysis reads; the protocol's raw fields sit beside it (null where a protocol has none).
# A protocol is any name the pipeline's protocol registry holds (pipeline.protocols.REGISTRY): the
# contract asks only that a row names one, so a newly registered protocol's rows pass unchanged.
# The built-in protocols' names are defined here because the contract defines their raw fields and
# analysis reads those fields by these names (choice diagnostics, logprob margins, judged replies).
CHOICE, LOGPROB, GENERATE = "choice", "logprob", "generate"
PROTOCOLS = (CHOICE, LOGPROB, GENERATE)  # the built-in protocols, not a limit on which may be registered
CONDITIONS = ("profile", "blind", "profile+prefs")

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),  # content hash: model, protocol, condition, template, sampling, judge, instance content
    "run_id": pl.String(),
    "model": pl.String(),
    "protocol": pl.String(),
    "condition": pl.String(),
    "instance_id": pl.String(),
    "aligned": pl.Float64(),  # null only when the item could not be scored (see `error`)
    # choice: aligned is the mean over the two orders of the decision (P > 0.5) for answer_w;
    # the probability of answer_w's label with w shown first (A), shown second (B), and their mean
    "p_w_first": pl.Float64(),
    "p_w_second": pl.Float64(),
    "p_w": pl.Float64(),
    "position_bias": pl.Float64(),  # mean P(label A) over both orders, minus 0.5
    "order_consistent": pl.Boolean(),  # both orders pick the same answer
    "label_mass": pl.Float64(),  # probability mass on the label tokens (low = the model is not answering)
    # logprob: length-normalised (mean per token) log-likelihood of each answer
    "logprob_w": pl.Float64(),
    "logprob_l": pl.Float64(),
    "margin": pl.Float64(),  # logprob_w - logprob_l
    "tokens_w": pl.Int64(),
    "tokens_l": pl.Int64(),
    # generate + judges
    "output": pl.String(),  # untrusted model text: never render as HTML
    "judge": pl.String(),
    "judge_label": pl.String(),  # W / L / TIE
    "judge_scores": pl.String(),  # JSON: per judge {w, l, model, label}
    "sim_w": pl.Float64(),
    "sim_l": pl.Float64(),
    "error": pl.String(),
}
RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_SCHEMA)


def conform_results(rows: list[dict] | pl.DataFrame) -> pl.DataFrame:
    """Result rows in contract order and types; absent fields are null."""
    df = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, infer_schema_length=None)
    missing = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in RESULT_SCHEMA.items() if name not in df.columns]
    return df.with_columns(missing).select([pl.col(n).cast(t) for n, t in RESULT_SCHEMA.items()])


def validate_results(df: pl.DataFrame, file: str = "<results>") -> list[Problem]:
    problems = _check_columns(df, RESULT_SCHEMA, file)
    if problems:
        return problems
    for name in ("key", "run_id", "model", "protocol", "condition", "instance_id"):
        problems += _failures(df, pl.col(name).is_null() | (pl.col(name) == ""), file, name, "is missing or empty")
    problems += _failures(
        df, (pl.col("aligned") < 0) | (pl.col("aligned") > 1), file, "aligned", pl.format("{} is outside [0, 1]", pl.col("aligned"))
    )
    problems += _failures(
        df, pl.col("aligned").is_null() & pl.col("error").is_null(), file, "aligned", "is null without an error saying why"
    )
    # A choice row derived by the old rule (aligned = mean probability, no p_w) must not pass as a
    # decision. Each order decides 0, ½ or 1 (½ on an exact tie), so an item is a multiple of ¼.
    scored_choice = (pl.col("protocol") == CHOICE) & pl.col("p_w_first").is_not_null() & pl.col("p_w_second").is_not_null()
    problems += _failures(
        df, scored_choice & (pl.col("p_w").is_null() | ~pl.col("aligned").is_in([0.0, 0.25, 0.5, 0.75, 1.0])), file, "aligned",
        "is not a mean of two choice decisions, with p_w beside it: derived by an older rule, "
        "re-derive the run (python -m pipeline.runs.rederive)",
    )
    # readers de-duplicate only across parts (analysis.data.cache.scan_results): a part holds a key once
    first_row = _row_numbers(df).first().over("key")
    problems += _failures(df, pl.col("key").is_duplicated() & (_row_numbers(df) != first_row), file, "key",
                          pl.format("duplicate result key '{}' (first seen at row {})", pl.col("key"), first_row))
    return problems
