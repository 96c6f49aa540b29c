"""docs/architecture.md's file map names every file of the project, so a newcomer can find
any file from it, and every folder it names exists.

The map is the code block under "Where each kind of file lives". A line whose first word
ends in "/" opens a folder, nested by indentation under the folder above it; a file is
found when its folder's lines (or an enclosing folder's, as a relative path such as
`templatetags/tables.py`) name it. Tests, migrations, templates, static files, the
translations and docs are mapped as folders, not file by file."""

import re
import subprocess
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MAP_HEADING = "## Where each kind of file lives"
NOT_FILE_BY_FILE = re.compile(
    r"^(tests|templates|static|locale|docs)/|/migrations/|(^|/)__init__\.py$"
)
WORD = re.compile(r"[\w.@/<>-]+")


def map_lines() -> list[str]:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    after = text.split(MAP_HEADING, 1)[1]
    block = after.split("```", 2)[1]
    return block.splitlines()[1:]


def folder_words(lines: list[str]) -> dict[str, set[str]]:
    """Each folder's path ("" for the root) and the words of its lines."""
    words: dict[str, set[str]] = defaultdict(set)
    stack: list[tuple[int, str]] = []
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        first = line.split()[0]
        if first.endswith("/"):
            parent = stack[-1][1] if stack else ""
            stack.append((indent, "" if first == "./" else parent + first))
        owner = stack[-1][1] if stack else ""
        words[owner].update(word.rstrip(".") for word in WORD.findall(line))
    return words


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return [path for path in listed if not NOT_FILE_BY_FILE.search(path)]


def is_named(path: str, words: dict[str, set[str]]) -> bool:
    return any(
        path.startswith(folder) and path[len(folder) :] in named for folder, named in words.items()
    )


def test_the_map_names_every_file():
    words = folder_words(map_lines())
    missing = [path for path in project_files() if not is_named(path, words)]
    assert missing == [], f"docs/architecture.md's file map does not name: {missing}"


def test_every_folder_of_the_map_exists():
    words = folder_words(map_lines())
    folders = [folder for folder in words if folder and "<" not in folder]
    assert len(folders) > 30
    assert [folder for folder in folders if not (REPO_ROOT / folder).is_dir()] == []


def test_a_file_named_only_in_another_folder_is_missing():
    lines = ["./   root", "  Makefile", "crm/", "  models.py", "leads/", "  tasks.py"]
    words = folder_words(lines)
    assert is_named("crm/models.py", words)
    assert is_named("Makefile", words)
    assert not is_named("leads/models.py", words)
    assert not is_named("crm/tasks.py", words)
