import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command(marker):
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = readme_command("test-command")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci


def test_main_command_installs_and_trains_the_a2_demo():
    command = readme_command("main-command")
    assert command.startswith("pip install -e .") and "astromer-train --preset a2" in command
