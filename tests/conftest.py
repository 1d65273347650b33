"""Shared fixtures: the dataset folder, and one small trained + exported model per test session.

Training and export take seconds, so the pipeline tests share one German/Italian
run instead of each training their own. Everything is written under pytest's
tmp folders: the dataset (``../shared/data/names``) is read-only in CI.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The names folder: $NAMEORT_DATA, else ../shared/data/names beside the repository."""
    path = Path(os.environ.get("NAMEORT_DATA") or REPO.parent / "shared" / "data" / "names")
    if not (path / "German.txt").is_file():
        pytest.fail(f"dataset not found at {path}; set NAMEORT_DATA (see data/README.md)")
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir):
    """RUN_DIR of a default-preset German/Italian run, trained through the CLI (seed 0)."""
    from click.testing import CliRunner

    from nameort.cli import main

    run_dir = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(main, ["train", "--data", str(data_dir), "--out", str(run_dir), "--seed", "0"])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory, trained_run):
    """MODEL_DIR exported (and verified) from ``trained_run`` through the CLI."""
    from click.testing import CliRunner

    from nameort.cli import main

    model_dir = tmp_path_factory.mktemp("model")
    result = CliRunner().invoke(main, ["export", str(trained_run), "--out", str(model_dir)])
    assert result.exit_code == 0, result.output
    return model_dir
