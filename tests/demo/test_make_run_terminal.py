"""The `make run` terminal stays readable (issue 15): the simulator posts slowly enough
that the logins do not scroll away in seconds, and `make logins` prints them again."""

import re
import subprocess
from pathlib import Path

from demo import simulation

ROOT = Path(__file__).resolve().parents[2]


def test_the_simulator_of_make_run_posts_at_most_ten_leads_a_minute():
    (line,) = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("sim:")]
    rate = re.search(r"--rate (\S+)", line).group(1)

    assert simulation.parse_rate(rate) * 60 <= 10


def test_make_logins_prints_the_logins_only():
    dry_run = subprocess.run(
        ["make", "-n", "logins"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert "manage.py seed_demo --quiet" in dry_run
