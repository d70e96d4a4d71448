"""The README's checkable claims: the two opening commands (CI runs the second verbatim), the generated config
reference, every `python -m kit` command and flag it shows, and every file, folder and profile it names."""

import re
from pathlib import Path

import pytest

from kit import cli, docs

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def opening_commands() -> list[str]:
    before_prose = README.split("\n\nThe first command")[0]
    return re.findall(r"```bash\n(.+?)\n```", before_prose)


def code_lines() -> list[str]:
    """Every line of the README's code blocks and inline code spans."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines()] + re.findall(r"`([^`\n]+)`", README)


def test_readme_opens_with_exactly_two_commands():
    commands = opening_commands()
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert install_and_run.startswith("pip install torch==2.13.0 -e . && snakemake -j2")
    assert install_and_test.startswith("pip install torch==2.13.0 -e '.[dev]' && python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert opening_commands()[1] in ci.splitlines()


def test_the_config_reference_is_the_generated_one():
    assert docs.readme_section(README) == docs.reference(), "run: python -m kit config --update-readme README.md"


def test_every_kit_command_and_flag_shown_exists():
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    shown = [line.split("python -m kit ", 1)[1] for line in code_lines() if "python -m kit " in line]
    assert shown
    for command in shown:
        words = command.split("#")[0].replace("`", " ").split()
        name = words[0]
        if name.startswith("<"):  # a placeholder, `python -m kit <command>`
            continue
        assert name in subparsers, command
        for flag in (w for w in words[1:] if w.startswith("--")):
            assert flag.split("=")[0] in subparsers[name]._option_string_actions, command


@pytest.mark.parametrize("kind", ["profile", "configfile"])
def test_every_profile_and_shipped_config_named_exists(kind):
    named = re.findall(rf"--{kind} ((?:profiles|configs)/[\w./-]+)", README)
    assert named or kind == "configfile"
    for path in named:
        assert (REPO / path).exists(), path


def test_the_module_map_names_existing_files():
    module_map = README.split("## Module map")[1].split("```")[1]
    paths = re.findall(r"((?:kit|rules|bench)/[\w./*]*|Snakefile)", module_map)
    assert len(paths) > 15
    for path in paths:
        assert list(REPO.glob(path.rstrip("/"))) or (REPO / path).exists(), path


def test_the_benchmark_section_is_made_from_the_results_files():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_results", REPO / "bench" / "results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    assert results.readme_section(README) == results.section(), "run: python bench/results.py"
