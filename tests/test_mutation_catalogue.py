"""The mutation catalogue stays usable: every planted bug still applies to today's code.

``make mutants`` (tests/mutate.py) is slow and not part of ``make test``; this check is
fast and is. When a change to course_lib rewrites a line that a mutant replaces, update
the mutant's ``old`` snippet (and ``new``) in ``tests/mutants/<topic>.py``.
"""

from __future__ import annotations

import mutate

ROOT = mutate.ROOT


def test_catalogue_has_enough_mutants_in_every_topic():
    entries = mutate.load_catalogue()
    assert len(entries) >= 25
    for topic in ("gradients", "relu_rules", "cam", "integrated_gradients", "occlusion",
                  "model_state", "localisation", "sanity_checks", "deletion_insertion",
                  "fragility", "maps"):
        assert any(e.topic == topic for e in entries), f"no mutant for {topic}"


def test_every_mutant_applies_once_and_compiles():
    found = {e.name: mutate.problems(e) for e in mutate.load_catalogue()}
    assert not {name: p for name, p in found.items() if p}


def test_every_named_test_file_exists():
    for entry in mutate.load_catalogue():
        for argument in entry.mutant.tests:
            if argument.startswith("tests/"):
                path = argument.split("::")[0]
                assert (ROOT / path).is_file(), f"{entry.name} names {path}, which is missing"


def test_selection_by_topic_and_words():
    entries = mutate.load_catalogue()
    assert {e.topic for e in mutate.select(entries, ["cam"], None)} == {"cam"}
    chosen = mutate.select(entries, None, ["first image's fill"])
    assert [e.name for e in chosen] == ["occlusion-1"]
