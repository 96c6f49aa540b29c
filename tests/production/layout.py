"""deploy/ read as data: the Procfile's and the systemd units' commands, parsed."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
INSTALL_ROOT = "/srv/leadportal"  # where the units expect the checkout (WorkingDirectory)


@dataclass(frozen=True)
class Command:
    source: str  # "Procfile:web" or "leadportal-worker@delivery.service"
    argv: tuple[str, ...]

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name

    @property
    def celery_command(self) -> str | None:
        """'worker' or 'beat' for a celery line, else None."""
        if self.program != "celery":
            return None
        return next((word for word in self.argv[1:] if word in ("worker", "beat")), None)

    def option(self, *names: str) -> str | None:
        for index, word in enumerate(self.argv):
            if word in names:
                return self.argv[index + 1]
        return None

    @property
    def queues(self) -> set[str]:
        value = self.option("-Q", "--queues")
        return set(value.split(",")) if value else set()


def procfile(path: Path = DEPLOY / "Procfile") -> list[Command]:
    commands = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            commands.append(Command(f"Procfile:{name.strip()}", tuple(shlex.split(command))))
    return commands


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every line of a unit file; keys may repeat, as in systemd."""
    entries, section = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


def target_units(path: Path = SYSTEMD / "leadportal.target") -> list[str]:
    """The units leadportal.target starts, templates' instances included."""
    return [name for value in unit_values(path, "Wants", "Unit") for name in value.split()]


def unit_file(unit: str) -> tuple[Path, str]:
    """The file of a unit name and its instance ('' when it is not a template's)."""
    match = re.fullmatch(r"(?P<base>[\w-]+)@(?P<instance>[\w-]*)\.service", unit)
    if match:
        return SYSTEMD / f"{match['base']}@.service", match["instance"]
    return SYSTEMD / unit, ""


def unit_command(unit: str) -> Command:
    """A unit's ExecStart with its instance (%i) and its environment defaults put in."""
    path, instance = unit_file(unit)
    (exec_start,) = unit_values(path, "ExecStart")
    defaults = dict(
        value.split("=", 1) for value in unit_values(path, "Environment") if "=" in value
    )
    exec_start = exec_start.replace("%i", instance).replace("%H", "host.example")
    exec_start = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m[1], m[0]), exec_start)
    return Command(unit, tuple(shlex.split(exec_start)))
