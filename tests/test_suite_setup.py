"""The test environment itself: a missing extra stops the run with the install command, never a skip."""

from blocker import run_without
from conftest import INSTALL, REPO


def test_a_missing_extra_names_the_install_command_instead_of_import_errors():
    proc = run_without(
        ("distributed", "psutil"),
        f"""
        import os, sys, pytest
        os.chdir({str(REPO)!r})
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--collect-only", "tests/test_dask.py"]))
        """,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage-error exit code
    assert proc.stderr == (
        "ERROR: test_dask.py cannot be collected: the test environment lacks psutil, distributed. "
        f"Install it with: {INSTALL} (scripts/test does that, and the web page's Node/Chromium set-up, "
        "in a fresh venv)\n\n"
    )
    assert "ModuleNotFoundError" not in proc.stdout and "skipped" not in proc.stdout


def test_the_install_command_matches_the_readme_and_scripts_test():
    assert INSTALL == "pip install torch==2.13.0 && pip install -e '.[train,gpu,test,dask,serve,parquet]'"
    assert "'.[train,gpu,test,dask,serve,parquet]'" in (REPO / "scripts" / "test").read_text()
    assert "scripts/test" in (REPO / "README.md").read_text(encoding="utf-8")
