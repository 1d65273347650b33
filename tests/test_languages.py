"""The many-label recipe (issue 12): dedupe, merge, a split that keeps spellings together, logit adjustment.

Everything runs on small label files written to tmp_path, so each rule is
checked on rows we can count by hand; the bundled 18-language model itself is
checked in test_languages_model.py.
"""

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner

from nameort.cli import main
from nameort_train.config import TrainConfig, preset_config
from nameort_train.data import DataError, load_dataset, parse_merge, split_indices
from nameort_train.model import ModelConfig, build_model, merge_members
from nameort_train.train import adjust_logits


def write_files(folder, files: dict):
    folder.mkdir(parents=True, exist_ok=True)
    for label, names in files.items():
        (folder / f"{label}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def small_dir(tmp_path):
    # Highland is a near-copy of Anglo (as Scottish.txt of English.txt): 2 of its 3 names are Anglo's.
    return write_files(tmp_path / "names", {
        "Anglo": ["Smith", "Brown", "Smith", "Jones", "Smith", "Clark"],
        "Highland": ["Smith", "Brown", "Macleod"],
        "Nippon": ["Sato", "Sato", "Sato", "Ito"],
    })


def test_dedupe_keeps_one_row_per_spelling_and_label(small_dir):
    plain = load_dataset(small_dir, ("Anglo", "Highland", "Nippon"), shared="keep")
    assert plain.counts() == {"Anglo": 6, "Highland": 3, "Nippon": 4}
    deduped = load_dataset(small_dir, ("Anglo", "Highland", "Nippon"), shared="keep", dedupe=True)
    assert deduped.counts() == {"Anglo": 4, "Highland": 3, "Nippon": 2}
    # First occurrences, in file order; a spelling under two labels stays under both.
    assert deduped.names == ("Smith", "Brown", "Jones", "Clark", "Smith", "Brown", "Macleod", "Sato", "Ito")
    assert deduped.targets == (0, 0, 0, 0, 1, 1, 1, 2, 2)


def test_merge_reads_the_near_copy_as_its_target(small_dir):
    d = load_dataset(small_dir, ("Anglo", "Highland", "Nippon"), shared="keep", dedupe=True,
                     merge=(("Highland", "Anglo"),))
    assert d.labels == ("Anglo", "Nippon")
    # Highland's Smith and Brown were Anglo's already; only Macleod is new.
    assert d.counts() == {"Anglo": 5, "Nippon": 2}
    assert d.names[:5] == ("Smith", "Brown", "Jones", "Clark", "Macleod")
    # The merged file was read, so it is fingerprinted for evaluate's data check.
    assert set(d.files_sha256) == {"Anglo", "Highland", "Nippon"}
    # With shared="drop", merging first means Smith and Brown are no longer "under two labels".
    dropped = load_dataset(small_dir, ("Anglo", "Highland", "Nippon"), merge=(("Highland", "Anglo"),))
    assert dropped.removed == () and dropped.counts() == {"Anglo": 9, "Nippon": 4}


def test_merge_errors(small_dir):
    with pytest.raises(DataError, match="cannot merge Scots into Anglo"):
        load_dataset(small_dir, ("Anglo", "Nippon"), merge=(("Scots", "Anglo"),))
    with pytest.raises(DataError, match="cannot merge Highland into Anglo"):
        load_dataset(small_dir, ("Anglo", "Highland", "Nippon"), merge=(("Highland", "Anglo"), ("Anglo", "Nippon")))
    assert parse_merge("Scottish=English, Manx=English") == (("Scottish", "English"), ("Manx", "English"))
    assert parse_merge(None) == () and parse_merge("") == ()
    for bad in ("Scottish", "Scottish=", "=English", "English=English", "A=B,A=C"):
        with pytest.raises(DataError, match="--merge"):
            parse_merge(bad)


def test_split_keeps_identical_spellings_on_one_side(tmp_path):
    # 40 spellings shared by two labels, each also repeated: every copy must land in one split.
    shared = [f"Name{i}" for i in range(40)]
    folder = write_files(tmp_path / "names", {
        "Left": shared + shared[:10] + [f"Left{i}" for i in range(60)],
        "Right": shared + [f"Right{i}" for i in range(60)],
    })
    d = load_dataset(folder, ("Left", "Right"), shared="keep")
    for seed in range(5):
        parts = split_indices(d, seed)
        side = {}
        for part, rows in parts.items():
            for i in rows:
                assert side.setdefault(d.names[i], part) == part, d.names[i]
        assert sorted(sum(parts.values(), [])) == list(range(len(d.names)))


def test_logit_adjustment_subtracts_the_log_share():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=5, sequence_length=4, num_classes=3, hidden_size=8, num_layers=1,
                         dropout=0.0, head="last", head_hidden=1)
    model = build_model(config).eval()
    x = torch.zeros(2, 4, 5)
    x[:, 0, 1] = 1.0
    before = model(x).detach()
    targets = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)  # shares 0.6, 0.3, 0.1
    state = adjust_logits(model, targets, 0.5)
    after = model(x).detach()
    expected = before - 0.5 * torch.log(torch.tensor([0.6, 0.3, 0.1]))
    assert torch.allclose(after, expected, atol=1e-5)
    # The returned weights are the adjusted ones (they go into the checkpoint).
    assert torch.equal(state["head.bias"], model.head.bias)


def test_config_round_trips_the_recipe():
    config = preset_config("small", labels=("Anglo", "Highland", "Nippon"), dedupe=True,
                           merge=(("Highland", "Anglo"),), logit_adjust=0.75, shared="keep")
    data = json.loads(json.dumps(config.to_json()))
    assert data["merge"] == [["Highland", "Anglo"]] and data["dedupe"] is True and data["logit_adjust"] == 0.75
    assert TrainConfig.from_json(data) == config


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_train_export_evaluate_with_the_recipe(tmp_path, cell):
    """Through the CLI: merged labels in the sidecar, and evaluate re-derives the same deduplicated test split."""
    rows = {
        "Anglo": [f"{s}son" for s in ("Ander", "Ben", "Carl", "Dal", "Ed", "Fer", "Gib", "Har", "Ib", "Jon")] * 2,
        "Highland": ["Andersonn", "Benson", "Macleod", "Macrae"],
        "Nippon": [f"{s}moto" for s in ("Ya", "Sa", "Ta", "Ka", "Ha", "Na", "Ma", "Wa", "Ra", "Fu")],
    }
    data = write_files(tmp_path / "names", rows)
    run, model = tmp_path / "run", tmp_path / "model"
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", "--data", str(data), "--out", str(run), "--labels", "all", "--shared", "keep", "--dedupe",
        "--merge", "Highland=Anglo", "--logit-adjust", "1", "--epochs", "2", "--quiet",
        "--ensemble", "2", "--hidden", "8", "--lr-schedule", "onecycle", "--cell", cell,
    ])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(run), "--out", str(model)])
    assert result.exit_code == 0, result.output
    card = json.loads((model / "model.onnx.json").read_text())
    assert card["labels"] == ["Anglo", "Nippon"]
    record = card["training"]["data"]
    assert record["files"] == ["Anglo", "Highland", "Nippon"] and record["merge"] == [["Highland", "Anglo"]]
    # 10 Anglo spellings + Andersonn, Macleod, Macrae (Benson is Anglo's already) and 10 Nippon ones.
    assert record["counts"] == {"Anglo": 13, "Nippon": 10} and record["dedupe"] is True
    assert card["training"]["config"]["logit_adjust"] == 1.0
    # Two 8-unit networks merged into one 16-unit nn.RNN (nn.GRU), exported and verified like any other.
    assert card["training"]["model"]["hidden_size"] == 16 and card["training"]["config"]["ensemble"] == 2
    assert card["training"]["model"]["cell"] == card["training"]["config"]["cell"] == cell
    assert card["metrics"]["verified"] is True
    result = runner.invoke(main, ["evaluate", str(model), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["count"] == record["split_sizes"]["test"] == 2 and metrics["unscored"] == 0
    assert metrics["recorded_accuracy"] == pytest.approx(metrics["accuracy"])


def test_merge_option_is_a_one_line_error(tmp_path, small_dir):
    result = CliRunner().invoke(main, [
        "train", "--data", str(small_dir), "--out", str(tmp_path / "run"), "--labels", "all", "--merge", "Highland",
    ])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("nameort: error: --merge 'Highland'")


def test_languages_preset_reads_the_18_files_by_default(tmp_path, small_dir):
    config = preset_config("languages")
    assert len(config.labels) == 18 and config.merge == (("Scottish", "English"),) and config.dedupe
    assert config.shared == "keep" and config.lr_schedule == "onecycle" and config.logit_adjust > 0
    # Without --labels the preset's files are asked for (the small preset still defaults to German,Italian).
    result = CliRunner().invoke(main, ["train", "--data", str(small_dir), "--out", str(tmp_path / "run"),
                                       "--preset", "languages"])
    assert result.exit_code == 2
    assert "nameort: error: no file for label 'Arabic'" in result.output


def test_balanced_top_k_counts_every_label_once():
    import numpy as np

    from nameort_train.figures import score

    labels = ("Big", "Mid", "Tiny")
    logits = np.log(np.array([
        [0.7, 0.2, 0.1],  # Big: first
        [0.6, 0.3, 0.1],  # Big: first
        [0.5, 0.4, 0.1],  # Big: first
        [0.1, 0.2, 0.7],  # Mid: second -> in the top 2
        [0.6, 0.3, 0.1],  # Tiny: third -> not in the top 2
    ]))
    figures = score([0, 0, 0, 1, 2], logits, labels, top_k=2)
    assert figures["top_2_accuracy"] == pytest.approx(4 / 5)
    assert figures["balanced_top_2_accuracy"] == pytest.approx((1 + 1 + 0) / 3)
    assert figures["balanced_accuracy"] == pytest.approx((1 + 0 + 0) / 3)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_merged_members_compute_the_mean_of_their_logits(layers, cell):
    config = ModelConfig(vocab_size=10, sequence_length=6, num_classes=4, hidden_size=8, num_layers=layers,
                         dropout=0.0, head="last", head_hidden=1, cell=cell)
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        members.append(build_model(config).eval())
    x = torch.zeros(5, 6, 10)
    for b in range(5):  # names of 1..5 characters
        for t in range(b + 1):
            x[b, t, (3 * b + t) % 10] = 1.0
    merged = merge_members(members)
    assert merged.config.hidden_size == 24 and merged.config.num_layers == layers
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(dim=0)
        assert torch.allclose(merged(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="identical 'last'-head"):
        merge_members([members[0], build_model(dataclasses.replace(config, hidden_size=4))])


def test_letter_labels_are_recorded_for_the_models_labels_and_answer_by_letter(tmp_path):
    """--letter-labels: the sidecar lists, for each letter beyond ASCII, which of the model's labels write it."""
    data = write_files(tmp_path / "names", {
        "Czech": ["Novak", "Svoboda", "Dvorak", "Cerny", "Prochazka", "Kucera", "Vesely", "Horak"] * 2,
        "Polish": ["Nowak", "Kowalski", "Wisniewski", "Wojcik", "Kaminski", "Lewandowski", "Zielinski"] * 2,
        "Spanish": ["Garcia", "Martinez", "Lopez", "Sanchez", "Perez", "Gomez", "Munoz", "Diaz"] * 2,
    })
    runner = CliRunner()
    for flag in ("--letter-labels", "--no-letter-labels"):
        run, model = tmp_path / f"run{flag}", tmp_path / f"model{flag}"
        result = runner.invoke(main, ["train", "--data", str(data), "--out", str(run), "--labels", "all",
                                      "--epochs", "1", "--hidden", "8", "--quiet", flag])
        assert result.exit_code == 0, result.output
        assert runner.invoke(main, ["export", str(run), "--out", str(model)]).exit_code == 0
    card = json.loads((tmp_path / "model--letter-labels" / "model.onnx.json").read_text())
    letters = card["decision"]["letter_labels"]
    assert letters["ř"] == ["Czech"] and letters["ł"] == ["Polish"] and letters["ñ"] == ["Spanish"]
    assert letters["ó"] == ["Czech", "Polish", "Spanish"] and letters["ü"] == ["Spanish"]
    assert "ß" not in letters and "ễ" not in letters  # German's, Vietnamese's: none of these labels
    plain = json.loads((tmp_path / "model--no-letter-labels" / "model.onnx.json").read_text())
    assert "letter_labels" not in (plain.get("decision") or {})
    result = runner.invoke(main, ["classify", "--model", str(tmp_path / "model--letter-labels"), "--format", "jsonl",
                                  "Dvořák", "Łukasiewicz", "Muñoz"])
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert [a["label"] for a in answers] == ["Czech", "Polish", "Spanish"]
    assert answers[0]["probabilities"]["Polish"] == answers[0]["probabilities"]["Spanish"] == 0.0


def test_crossval_scores_what_the_runtime_answers_with_letter_labels(tmp_path):
    """Rule 4 in cross-validation: out of fold, a name holding ř is Czech only, and the temperature stays the fitted one."""
    from nameort_train.crossval import cross_validate

    data = write_files(tmp_path / "names", {
        "Czech": ["Novák", "Dvořák", "Černý", "Kovář", "Procházka", "Kučera", "Veselý", "Horák", "Marek", "Pokorny"],
        "Polish": ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Łukasik"],
        "Spanish": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Muñoz", "Díaz", "Ruiz", "Moreno"],
    })
    dataset = load_dataset(data, ("Czech", "Polish", "Spanish"))
    runs = {flag: cross_validate(dataset, preset_config("small", labels=dataset.labels, epochs=2, hidden_size=8,
                                                        letter_labels=flag), folds=2, repeats=1)
            for flag in (False, True)}
    labels = list(dataset.labels)
    for flag, run in runs.items():
        probabilities = dict(zip(dataset.names, run["out_of_fold"]["probabilities"]))
        narrowed = [p[labels.index("Polish")] == p[labels.index("Spanish")] == 0.0 for p in
                    (probabilities["Dvořák"], probabilities["Kovář"])]
        assert narrowed == [flag, flag]
        assert [f["temperature"] for f in run["folds"]] == [f["temperature"] for f in runs[False]["folds"]]
    assert runs[True]["summary"]["accuracy"]["mean"] >= runs[False]["summary"]["accuracy"]["mean"]
