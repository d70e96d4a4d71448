"""The README opens with the two commands a fresh clone runs; CI must run the second one verbatim."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def opening_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    before_prose = text.split("\n\nThe first command")[0]
    return re.findall(r"```bash\n(.+?)\n```", before_prose)


def test_readme_opens_with_exactly_two_commands():
    commands = opening_commands()
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert install_and_run.startswith("pip install torch==2.13.0 -e . && snakemake -j2")
    assert install_and_test.startswith("pip install torch==2.13.0 -e '.[dev]' && python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert opening_commands()[1] in ci.splitlines()
