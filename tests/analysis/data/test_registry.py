"""The one registry type (analysis.data.registry): pipeline's plug-ins and analysis's groupings are
the same type, so a duplicate name is an error and an unknown one is a line naming the known ones."""

import pytest

from analysis.data.groupings import REGISTRY as GROUPINGS
from analysis.data.groupings import get_grouping
from analysis.data.registry import Registry


def test_a_name_registered_twice_is_an_error_and_an_unknown_one_names_the_known():
    colours = Registry("colour")
    colours.register("red", 1)
    with pytest.raises(ValueError, match="colour 'red' is already registered"):
        colours.register("red", 2)
    assert colours.get("red") == 1 and colours.names() == ("red",) and colours.values() == [1]
    with pytest.raises(ValueError, match="unknown colour 'blue'; expected one of red"):
        colours.get("blue")
    colours.unregister("red")
    assert "red" not in colours and len(colours) == 0


def test_the_groupings_are_a_registry_that_refuses_a_second_grouping_of_a_name():
    assert isinstance(GROUPINGS, Registry)
    with pytest.raises(ValueError, match="grouping 'gender' is already registered"):
        GROUPINGS.register("gender", get_grouping("age"))
    assert get_grouping("gender").label == "Gender"  # not overwritten
    with pytest.raises(ValueError, match="unknown grouping 'planet'.*birth_country"):
        get_grouping("planet")
    assert get_grouping("run_id").kind == "internal"  # a run's identity column stays a grouping for leaderboards


def test_the_pipeline_keeps_its_import_path():
    from pipeline.registry import Registry as PipelineRegistry

    assert PipelineRegistry is Registry
