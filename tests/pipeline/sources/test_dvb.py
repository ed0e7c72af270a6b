import polars as pl
import pytest

from analysis.data.problems import DataError
from pipeline.sources.dvb import load_dvb, split_from_filename
from tests.builders import dvb_record, write_json


def test_arxiv_release_one_file_with_birth_country(tmp_path):
    path = write_json(tmp_path / "MVPBench.json", [dvb_record(i, country=c) for i, c in enumerate(["United States", "Korea", "Prefer not to say", "Türkiye"])])
    df = load_dvb(path)
    assert df.height == 4 and df.get_column("user_id").n_unique() == 2
    assert df.get_column("birth_iso3").to_list() == ["USA", "KOR", "UNSTATED", "TUR"]
    assert df.get_column("birth_country").to_list() == ["United States", "Korea, Republic of", "Prefer not to say", "Türkiye"]
    assert set(df.get_column("split")) == {"unsplit"} and set(df.get_column("source")) == {"dvb"}
    assert set(df.get_column("reside_iso3")) == {"UNKNOWN"}  # not in the release: explicit, not dropped
    assert set(df.get_column("religion")) == {"Unknown"}


def test_revised_release_three_split_files_with_slash_spelling(tmp_path):
    files = [
        write_json(tmp_path / "DVB-train.json", [dvb_record(i, revised=True) for i in range(0, 9)]),
        write_json(tmp_path / "DVB-val.json", [dvb_record(i, revised=True, country="Mexico") for i in range(9, 12)]),
        write_json(tmp_path / "DVB-test.json", [dvb_record(i, revised=True, country="Viet Nam") for i in range(12, 18)]),
    ]
    df = load_dvb(files)
    counts = dict(df.group_by("split").len().iter_rows())
    assert counts == {"train": 9, "val": 3, "test": 6}
    assert df.filter(pl.col("split") == "test").get_column("birth_iso3").unique().to_list() == ["VNM"]
    assert df.filter(pl.col("split") == "val").get_column("un_subregion").unique().to_list() == ["Latin America and the Caribbean"]


def test_labels_are_recomputed_and_the_published_sentence_is_kept(tmp_path):
    df = load_dvb(write_json(tmp_path / "d.json", [dvb_record(0, stated_prefs={"creativity": 60, "fluency": 61, "factuality": 79, "diversity": 80, "safety": 0, "personalization": 100, "helpfulness": 50})]))
    row = df.row(0, named=True)
    assert row["value_labels"] == {"creativity": "Low", "fluency": "unstated", "factuality": "unstated", "diversity": "High",
                                   "safety": "Low", "personalisation": "High", "helpfulness": "Low"}
    assert row["stated_prefs"]["personalisation"] == 100  # American spelling accepted
    assert row["preference"].startswith("High fluency, High factuality")  # as published, not rewritten


def test_a_missing_sentence_is_derived_from_the_rule(tmp_path):
    df = load_dvb(write_json(tmp_path / "d.json", [dvb_record(0, preference=None)]))
    assert df.item(0, "preference") == "High fluency, High factuality, High safety, High helpfulness, Low creativity, Low personalisation."


def test_an_id_reused_across_split_files_is_reported_with_both_places(tmp_path):
    a = write_json(tmp_path / "DVB-train.json", [dvb_record(1), dvb_record(2)])
    b = write_json(tmp_path / "DVB-test.json", [dvb_record(3), dvb_record(2)])
    with pytest.raises(DataError) as err:
        load_dvb([a, b])
    (problem,) = err.value.problems
    assert (problem.file, problem.row, problem.field) == (str(b), 2, "id")
    assert str(a) in problem.message


@pytest.mark.parametrize(("name", "split"), [("DVB-train.json", "train"), ("DVB-val.json", "val"), ("dvb_test.json", "test"),
                                             ("DVB-valid.json", "val"), ("MVPBench.json", "unsplit"), ("contest.json", "unsplit")])
def test_split_from_filename(tmp_path, name, split):
    assert split_from_filename(tmp_path / name) == split


def test_the_authors_quirks_partial_import_hong_kong_and_a_git_lfs_pointer(tmp_path):
    """As the authors' generator writes them: an empty answer_w where GPT-4o omitted a key, and
    colliding p{idx*3+i} ids; a World Bank spelling their analysis normalises; a clone without
    git-lfs. --skip-invalid keeps the valid rows and names every refused one; the default refuses all."""
    import subprocess
    import sys

    rows = [dvb_record(0), dvb_record(1, answer_w=""), dvb_record(2, country="Hong Kong SAR, China"), dvb_record(3),
            dvb_record(3, question="A second item with the same id, as p{idx*3+i} collides.")]
    path = write_json(tmp_path / "DVB-test.json", rows)
    with pytest.raises(DataError, match="answer_w"):
        load_dvb(path)
    from pipeline.sources.dvb import load_dvb_valid_rows

    df, refused = load_dvb_valid_rows(path)
    assert {p.row for p in refused} >= {2, 5} and 1 not in {p.row for p in refused}
    assert df.filter(pl.col("instance_id") == "2").get_column("birth_iso3").to_list() == ["HKG"]
    assert df.height == len(rows) - len({p.row for p in refused})
    cache = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "data", "import", "dvb", str(path), "--name", "dvb",
                           "--skip-invalid", "--cache", str(cache)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = pl.read_csv(cache / "dvb" / "refused.csv")
    assert set(written["row"]) == {p.row for p in refused} and written["reason"].str.len_chars().min() > 5
    pointer = tmp_path / "DVB-val.json"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(DataError, match="Git LFS pointer"):
        load_dvb(pointer)
