"""The encoder: normalisation, unknown characters, truncation, statuses, one-hot layout."""

import numpy as np
import pytest

from nameort.encoding import Encoder, EncodingRules

# The notebook's 65-character vocabulary, in index order.
SEED_VOCAB = " 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzßàäèéìòóöùü"


@pytest.fixture(scope="module")
def encoder():
    return Encoder(EncodingRules(characters=SEED_VOCAB, sequence_length=18))


def test_seed_vocabulary_indices_match_the_notebook(encoder):
    assert encoder.vocab_size == 65
    assert encoder.index[" "] == 0 and encoder.index["'"] == 1
    assert encoder.index["A"] == 2 and encoder.index["a"] == 28
    assert encoder.index["ß"] == 54 and encoder.index["ü"] == 64


def test_one_hot_layout_pads_with_zero_rows(encoder):
    x = encoder.one_hot(["Abe", "ü"])
    assert x.shape == (2, 18, 65) and x.dtype == np.float32
    assert [int(i) for i in x[0, :3].argmax(axis=1)] == [2, 29, 32]
    assert x[0, 3:].sum() == 0 and x[1, 1:].sum() == 0
    assert x[1, 0, 64] == 1
    assert x.sum() == 4


def test_plain_name_is_ok(encoder):
    p = encoder.prepare("Tribbiani")
    assert (p.text, p.status, p.unknown) == ("Tribbiani", "ok", "")


def test_nfd_input_is_encoded_like_nfc(encoder):
    nfd, nfc = "Mu\u0308ller", "M\u00fcller"
    assert encoder.prepare(nfd).text == nfc
    assert encoder.prepare(nfd).status == "ok"
    assert np.array_equal(encoder.encode([nfd])[0], encoder.encode([nfc])[0])


def test_surrounding_whitespace_is_not_part_of_the_name(encoder):
    p = encoder.prepare("  Rossi\t")
    assert (p.name, p.text, p.status) == ("  Rossi\t", "Rossi", "ok")


@pytest.mark.parametrize("name", ["", "   ", "\u00a0", "\t\n"])
def test_empty_names(encoder, name):
    p = encoder.prepare(name)
    assert (p.status, p.text, p.usable) == ("empty", "", False)


def test_accented_letter_falls_back_to_its_base_letter(encoder):
    p = encoder.prepare("García")  # í is not in the seed vocabulary, i is
    assert (p.text, p.status, p.unknown) == ("Garcia", "unknown_chars", "í")


def test_curly_apostrophe_becomes_straight(encoder):
    p = encoder.prepare("O\u2019Connor")
    assert (p.text, p.status, p.unknown) == ("O'Connor", "unknown_chars", "\u2019")


def test_hyphen_outside_the_vocabulary_becomes_a_space(encoder):
    assert encoder.prepare("Smith-Jones").text == "Smith Jones"


def test_characters_without_substitute_are_dropped_and_listed(encoder):
    p = encoder.prepare("Ro\u200bssi😀")
    assert (p.text, p.status, p.unknown) == ("Rossi", "unknown_chars", "\u200b😀")


def test_name_with_no_known_character_is_unsupported(encoder):
    p = encoder.prepare("李明")
    assert (p.status, p.text, p.unknown, p.usable) == ("unsupported", "", "李明", False)


def test_long_name_keeps_its_first_characters(encoder):
    p = encoder.prepare("Abcdefghijklmnopqrstuvwxyz")
    assert p.text == "Abcdefghijklmnopqr" and p.status == "truncated"


def test_flags_combine_in_a_fixed_order(encoder):
    assert encoder.prepare("García" * 5).status == "unknown_chars+truncated"


def test_astral_characters_count_as_one_code_point(encoder):
    p = encoder.prepare("Rossi\U0001d400")  # MATHEMATICAL BOLD CAPITAL A folds to nothing known
    assert p.text == "Rossi"
    assert p.unknown == "\U0001d400"


def test_non_string_input_is_a_type_error(encoder):
    with pytest.raises(TypeError, match="must be a str"):
        encoder.prepare(None)


def test_rules_round_trip_through_json():
    rules = EncodingRules(characters=SEED_VOCAB, sequence_length=18)
    assert EncodingRules.from_json(rules.to_json()) == rules


def test_duplicate_vocabulary_is_refused():
    with pytest.raises(ValueError, match="unique"):
        EncodingRules(characters="aab", sequence_length=3)


@pytest.mark.parametrize("text", ["A", "Abe", "ü", "Tribbiani", "O'Neill van Dyk", "Abatantuonoabatant", "aaaa"])
def test_single_name_path_matches_the_batch_path(encoder, text):
    single = encoder.one_hot_single(text)
    assert single.shape == (1, 18, 65) and single.dtype == np.float32
    assert np.array_equal(single, encoder.one_hot([text]))


@pytest.mark.parametrize("given,read", [
    ("ROSSI", "Rossi"), ("rossi", "Rossi"), ("O'BRIEN", "O'Brien"), ("d'angelo", "D'Angelo"), ("MÜLLER", "Müller"),
    ("MU\u0308LLER", "Müller"), ("DE LUCA", "De Luca"), ("de luca", "De Luca"), ("AB", "Ab"), ("abc", "Abc"),
    ("Rossi", "Rossi"), ("McDONALD", "McDONALD"), ("A", "A"), ("ab", "ab"), ("an", "an"),
])
def test_a_name_written_in_one_case_is_read_in_title_case(encoder, given, read):
    p = encoder.prepare(given)
    assert (p.name, p.text, p.status) == (given, read, "ok")  # the caller's name is kept as given


@pytest.mark.parametrize("given,read", [
    ("A1B", "A1B"), ("a1b", "a1b"), ("ab1c", "Ab1C"), ("X Æ A-12", "X Æ A-12"), ("İSTANBUL", "İstanbul"),
    ("ΣΙΣΥΦΟΣ", "Σισυφοσ"), ("σισυφος", "Σισυφος"), ("STRAßE", "STRAßE"), ("straße", "Straße"), ("ǄEMAL", "Ǆemal"),
    ("ǅemal", "ǅemal"), ("NGUYỄN", "Nguyễn"), ("nguyễn", "Nguyễn"), ("IVAN-PETROV", "Ivan-Petrov"),
])
def test_the_one_case_rule_maps_each_character_on_its_own(given, read):
    from nameort.encoding import title_single_case

    assert title_single_case(given) == read


def test_the_one_case_rule_is_off_for_sidecars_written_before_it():
    old = EncodingRules.from_json({"characters": list("ROSIrosi"), "sequence_length": 8})
    new = EncodingRules.from_json({"characters": list("ROSIrosi"), "sequence_length": 8, "title_single_case": True})
    assert old.title_single_case is False and new.title_single_case is True
    assert Encoder(old).prepare("ROSSI").text == "ROSSI"
    assert Encoder(new).prepare("ROSSI").text == "Rossi"
    assert EncodingRules.from_json(new.to_json()) == new
    assert EncodingRules("ab", 4).title_single_case is True  # what training writes into new sidecars


def test_the_one_case_rule_changes_no_training_name(data_dir):
    """So models trained before the rule read their training data exactly as they would after it."""
    from nameort.encoding import title_single_case

    for path in sorted(data_dir.glob("*.txt")):
        names = [n.strip() for n in path.read_text(encoding="utf-8").splitlines() if n.strip()]
        assert [n for n in names if title_single_case(n) != n] == [], path.name


def test_the_one_case_rule_leaves_names_past_four_sequence_lengths_alone(encoder):
    assert encoder.prepare("ROSSI" * 14).text == ("Rossi" + "rossi" * 13)[:18]  # 70 characters: within 4 x 18
    assert encoder.prepare("ROSSI" * 15).text == ("ROSSI" * 15)[:18]  # 75: a name that long is left as given
