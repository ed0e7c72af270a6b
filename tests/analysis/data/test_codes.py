"""Integer codes for key columns are the ones a string sort and a join back give: the same order
(bytewise, nulls first), the same keys, for String and Categorical columns alike."""

import numpy as np
import polars as pl
import pytest

import analysis.data.codes as codes
from analysis.data.codes import column_codes, key_codes, segments

POOL = ["b", "a", "é", "A", "ab", "", "z" * 20, "10", "9"]


def _plain(frame: pl.DataFrame, columns: list[str]) -> tuple[np.ndarray, pl.DataFrame]:
    keys = frame.select(columns).unique().sort(columns, nulls_last=False)
    code = frame.select(columns).join(keys.with_row_index("c"), on=columns, how="left", nulls_equal=True,
                                      maintain_order="left").get_column("c").to_numpy()
    return code, keys


def _frame(rng: np.random.Generator, n: int) -> pl.DataFrame:
    pick = lambda nulls: [None if rng.random() < nulls else POOL[int(rng.integers(len(POOL)))] for _ in range(n)]  # noqa: E731
    return pl.DataFrame({"x": pick(0.0), "y": pick(0.1), "z": pick(0.3)}, schema={c: pl.String for c in "xyz"})


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("lookup", [True, False])
def test_key_codes_are_a_sort_and_a_join(monkeypatch, categorical, lookup):
    if not lookup:  # the path for processes holding very many categorical ids
        monkeypatch.setattr(codes, "LOOKUP_LIMIT", 0)
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 300):
        frame = _frame(rng, n)
        given = frame.with_columns(pl.all().cast(pl.Categorical)) if categorical else frame
        code, keys = key_codes(given, ["x", "y", "z"])
        plain_code, plain_keys = _plain(frame, ["x", "y", "z"])
        np.testing.assert_array_equal(code, plain_code)
        assert keys.equals(plain_keys) and keys.schema == plain_keys.schema


def test_a_column_with_nulls_puts_them_first():
    code, values = column_codes(pl.Series(["b", None, "a", "b"]))
    assert code.tolist() == [2, 0, 1, 2] and values.to_list() == [None, "a", "b"]


def test_a_large_key_space_is_coded_by_sorting(monkeypatch):
    monkeypatch.setattr(codes, "DENSE_LIMIT", 1)
    frame = _frame(np.random.default_rng(5), 200)
    code, keys = key_codes(frame, ["x", "y", "z"])
    plain_code, plain_keys = _plain(frame, ["x", "y", "z"])
    np.testing.assert_array_equal(code, plain_code)
    assert keys.equals(plain_keys)


def test_segments_are_the_runs_of_equal_codes():
    code, start, stop = segments(np.array([3, 3, 1, 1, 1, 3, 0]))
    assert code.tolist() == [3, 1, 3, 0] and start.tolist() == [0, 2, 5, 6] and stop.tolist() == [2, 5, 6, 7]
    assert all(len(a) == 0 for a in segments(np.zeros(0, dtype=np.int64)))


def test_small_unique_is_numpys_unique():
    from analysis.data.codes import small_unique

    rng = np.random.default_rng(7)
    for trial in range(200):
        values = rng.integers(0, int(rng.integers(1, 40_000)), int(rng.integers(0, 3000))).astype(rng.choice([np.int64, np.uint32]))
        if trial % 50 == 0:
            values = values.astype(np.int64) - 5  # negative codes: numpy's own unique
        for got, want in zip(small_unique(values), np.unique(values, return_inverse=True), strict=True):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
        for got, want in zip(small_unique(values, return_index=True), np.unique(values, return_index=True), strict=True):
            np.testing.assert_array_equal(got, want)
