import pytest

from analysis.data.values import HIGH, LOW, UNSTATED, VALUE_DIMENSIONS, ValueThresholds, preference_sentence, value_label, value_labels


@pytest.mark.parametrize(("score", "label"), [(60, LOW), (61, UNSTATED), (79, UNSTATED), (80, HIGH), (0, LOW), (100, HIGH), (None, UNSTATED)])
def test_the_method_thresholds(score, label):
    assert value_label(score) == label


def test_thresholds_are_configurable_and_checked():
    strict = ValueThresholds(high=90, low=30)
    assert value_label(85, strict) == UNSTATED
    assert value_label(90, strict) == HIGH
    assert value_label(30, strict) == LOW
    with pytest.raises(ValueError):
        ValueThresholds(high=50, low=60)


def test_labels_cover_all_seven_dimensions_and_missing_ones_are_unstated():
    labels = value_labels({"safety": 95, "creativity": 10, "personalisation": 70})
    assert set(labels) == set(VALUE_DIMENSIONS) and len(VALUE_DIMENSIONS) == 7
    assert labels["safety"] == HIGH and labels["creativity"] == LOW
    assert labels["personalisation"] == UNSTATED and labels["fluency"] == UNSTATED


def test_preference_sentence_lists_high_then_low_in_method_order():
    labels = value_labels({"helpfulness": 90, "fluency": 85, "diversity": 99, "creativity": 20, "safety": 5, "personalisation": 60})
    assert preference_sentence(labels) == (
        "High fluency, High diversity, High helpfulness, Low creativity, Low safety, Low personalisation."
    )


def test_preference_sentence_when_nothing_is_strong():
    assert preference_sentence(value_labels(dict.fromkeys(VALUE_DIMENSIONS, 70))) == "No strong value preferences stated."
