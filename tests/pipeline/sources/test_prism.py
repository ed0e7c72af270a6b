import json

import pytest

from analysis.data.contracts import validate_profiles
from analysis.data.problems import DataError
from pipeline.sources.prism import load_prism, load_prism_dir
from tests.builders import conversation_record, survey_record, write_jsonl


def _prism(tmp_path, flat=False, n_users=5, n_conv=8):
    survey = write_jsonl(tmp_path / "survey.jsonl", [
        survey_record(0, flat=flat),
        survey_record(1, flat=flat, birth=("Hong Kong", "HKG"), reside=("United Kingdom", "GBR")),
        survey_record(2, flat=flat, birth=("Prefer not to say", "Prefer not to say"), reside=("United States", "USA")),
        survey_record(3, flat=flat, birth=("Venezuela, Bolivarian Republic of", "VEN"), reside=("Chile", "CHL")),
        survey_record(4, flat=flat, survey_only=True, gender="Prefer not to say"),
    ][:n_users])
    conversations = write_jsonl(tmp_path / "conversations.jsonl", [conversation_record(i, i % 4) for i in range(n_conv)])
    return survey, conversations


def test_published_nested_survey_and_conversations(tmp_path):
    data = load_prism(*_prism(tmp_path))
    assert (data.users.height, data.conversations.height) == (5, 8)
    assert validate_profiles(data.users) == []
    assert data.users.get_column("birth_iso3").to_list() == ["GBR", "HKG", "UNSTATED", "VEN", "GBR"]
    assert data.users.get_column("reside_iso3").to_list() == ["GBR", "GBR", "USA", "CHL", "GBR"]
    # the detailed `categorised` sets (as PRISM's summary tables), the coarse `simplified` kept beside them
    assert data.users.get_column("religion").unique().to_list() == ["Non-religious"]
    assert data.users.get_column("ethnicity").unique().to_list() == ["Middle Eastern / Arab"]
    assert data.users.get_column("religion_simplified").unique().to_list() == ["No Affiliation"]
    assert data.users.get_column("ethnicity_simplified").unique().to_list() == ["Other"]
    assert data.users.get_column("same_birth_reside_country").to_list() == ["Yes", "No", "Prefer not to say", "No", "Yes"]
    assert data.users.get_column("gender").to_list()[-1] == "Prefer not to say"  # a value, kept as such
    assert data.users.get_column("survey_only").to_list() == [False, False, False, False, True]
    assert data.users.row(0, named=True)["value_labels"]["safety"] == "High"
    history = json.loads(data.conversations.item(0, "conversation_history"))
    assert history[1]["role"] == "model" and history[1]["score"] == 80


def test_flattened_spelling_gives_the_same_users(tmp_path):
    nested = load_prism(*_prism(tmp_path / "nested"))
    flat = load_prism(*_prism(tmp_path / "flat", flat=True))
    assert flat.users.equals(nested.users)


def test_folder_loading_and_survey_alone(tmp_path):
    _prism(tmp_path)
    assert load_prism_dir(tmp_path).conversations.height == 8
    assert load_prism(tmp_path / "survey.jsonl").conversations.height == 0


def test_conversation_of_an_unknown_participant_is_reported(tmp_path):
    survey, conversations = _prism(tmp_path, n_users=2)
    with pytest.raises(DataError) as err:
        load_prism(survey, conversations)
    bad = {(p.file, p.row, p.field) for p in err.value.problems}
    assert bad == {(str(conversations), line, "user_id") for line in (3, 4, 7, 8)}


def test_iso_code_and_name_that_disagree_are_reported(tmp_path):
    survey = write_jsonl(tmp_path / "survey.jsonl", [survey_record(0, birth=("Mexico", "CHL"))])
    with pytest.raises(DataError, match="location.birth_countryISO"):
        load_prism(survey)
