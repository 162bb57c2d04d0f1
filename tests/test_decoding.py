"""One decoding configuration (vocablab.options.Decoding): what each setting refuses, what exact mode
prunes, and that every generation entry point takes it whole rather than as loose keyword arguments."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from vocablab.errors import VocabLabError
from vocablab.options import Decoding

NOTHING_PRUNED = {"k": None, "beam": None, "min_weight": 0.0, "heal_beam": None, "heal_min_weight": 0.0, "heal_k": None}


def test_exact_mode_prunes_nothing_whatever_the_other_pruning_settings():
    """K = None is the reduction itself (docs/methods.md §4): no top K, no beam, no weight cut, at the
    prompt's end either."""
    decoding = Decoding(k=None, beam=2, min_weight=0.5, heal_beam=1, heal_min_weight=0.1, heal_k=3)
    assert decoding.pruning() == NOTHING_PRUNED


def test_k_lvr_passes_each_pruning_setting_as_given():
    decoding = Decoding(k=7, beam=2, min_weight=0.5, heal_beam=1, heal_min_weight=0.1, heal_k=3)
    expected = {"k": 7, "beam": 2, "min_weight": 0.5, "heal_beam": 1, "heal_min_weight": 0.1, "heal_k": 3}
    assert decoding.pruning() == expected


BAD_SETTINGS = {
    "k 0": ({"k": 0}, "K \\(next tokens kept per cover entry\\) must be at least 1"),
    "no bytes": ({"max_new_bytes": 0}, "byte budget"),
    "temperature 0 when sampling": ({"greedy": False, "temperature": 0.0}, "temperature must be a positive number"),
    "beam 0": ({"beam": 0}, "beam \\(cover entries kept per step\\)"),
    "beam as text": ({"beam": "4"}, "beam \\(cover entries kept per step\\)"),
    "min_weight 1": ({"min_weight": 1.0}, "min_weight"),
    "heal beam 0": ({"heal_beam": 0}, "beam \\(cover entries kept per step\\)"),
    "negative heal min_weight": ({"heal_min_weight": -0.1}, "min_weight"),
    "heal_k 0": ({"heal_k": 0}, "heal_k \\(next tokens kept at the prompt's end\\)"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_setting_is_refused_with_its_reason(case):
    settings, message = BAD_SETTINGS[case]
    with pytest.raises(VocabLabError, match=message):
        Decoding(**settings)


def test_settings_are_named_not_positional():
    """Thirteen settings in a row: a positional call would set the wrong one silently."""
    with pytest.raises(TypeError):
        Decoding(300)  # type: ignore[misc]


def test_every_generation_entry_point_takes_one_decoding():
    """No entry point repeats a decoding setting as its own parameter (the settings would be defined
    twice and could disagree); each takes ``decoding`` with the default Decoding."""
    from vocablab.reduce.generate import generate_ensemble, generate_plain, generate_reduced, generate_side_by_side
    from vocablab.reduce.speculate import speculate

    settings = {field.name for field in dataclasses.fields(Decoding)}
    for function in (generate_reduced, generate_ensemble, generate_plain, generate_side_by_side, speculate):
        parameters = inspect.signature(function).parameters
        assert not settings & set(parameters), function.__name__
        assert parameters["decoding"].default == Decoding(), function.__name__
