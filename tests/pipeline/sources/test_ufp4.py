import polars as pl

from pipeline.sources.ufp4 import ANONYMOUS_USER, UFP4_FILES, load_ufp4
from tests.builders import ufp4_record, write_json


def test_the_four_files_from_a_folder(tmp_path):
    for k, name in enumerate(UFP4_FILES):
        write_json(tmp_path / name, [ufp4_record(i) for i in range(k + 2)])
    df = load_ufp4(tmp_path)
    assert df.height == 2 + 3 + 4 + 5
    assert dict(df.group_by("domain").len().sort("domain").iter_rows()) == {
        "helpfulness": 2, "honesty": 3, "instruction_following": 4, "truthfulness": 5}
    assert set(df.get_column("split")) == {"test"} and set(df.get_column("source")) == {"ufp4"}
    assert df.get_column("instance_id").n_unique() == df.height
    assert set(df.get_column("user_id")) == {ANONYMOUS_USER}
    assert df.select(pl.col("value_labels").struct.field("safety")).to_series().unique().to_list() == ["unstated"]


def test_optional_profiles_text_or_object(tmp_path):
    path = write_json(tmp_path / "honesty.json", [
        ufp4_record(0, profile="I am a nurse from Ghana."),
        ufp4_record(1, profile={"user_id": "p7", "age": "65+ years old", "birth_country": "Ghana", "stated_prefs": {"safety": 95}}),
    ])
    df = load_ufp4(path)
    first, second = df.row(0, named=True), df.row(1, named=True)
    assert first["self_description"] == "I am a nurse from Ghana."
    assert (second["user_id"], second["age"], second["birth_iso3"]) == ("p7", "65+ years old", "GHA")
    assert second["value_labels"]["safety"] == "High" and second["stated_prefs"]["fluency"] is None


def test_real_alignx_quirks_case_only_pairs_profiles_shown_and_one_person_per_profile(tmp_path):
    """As AlignX's UF-P-4 files are: pairs that differ only in case ("Positive" vs "positive") are real
    items; the text profile is what the model is shown in the profile conditions (the authors prepend
    it to the prompt); each distinct profile is one person, so the statistics cluster on people."""
    from pipeline.prompts import answer_prompt, choice_prompts

    path = write_json(tmp_path / "helpfulness.json", [
        ufp4_record(0, profile="I am a nurse from Ghana.", chosen="Positive", rejected="positive"),
        ufp4_record(1, profile="I am a nurse from Ghana. "),
        ufp4_record(2, profile="I teach physics in Oslo."),
        ufp4_record(3),
    ])
    df = load_ufp4(path)
    assert df.row(0, named=True)["answer_l"] == "positive"
    users = df.get_column("user_id").to_list()
    assert users[0] == users[1] != users[2] and users[3] == ANONYMOUS_USER and len(set(users)) == 3
    first = df.row(0, named=True)
    shown = answer_prompt(first, "profile")[-1]["content"]
    assert "I am a nurse from Ghana." in shown and "Unknown" not in shown
    assert "I am a nurse from Ghana." not in answer_prompt(first, "blind")[-1]["content"]
    assert all("I am a nurse from Ghana." in str(p.chat) for p in choice_prompts(first, "profile"))


def test_identical_answers_are_still_refused(tmp_path):
    import pytest

    from analysis.data.problems import DataError

    path = write_json(tmp_path / "honesty.json", [ufp4_record(0, chosen="Same answer", rejected="  Same answer ")])
    with pytest.raises(DataError, match="identical to answer_w"):
        load_ufp4(path)
