"""The import graph has no cycle, module by module (the contracts in pyproject.toml check
the layers; this checks what import-linter's sibling contracts see only per package)."""

from pathlib import Path

import grimp

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "leads", "crm", "inbound", "demo", "privacy")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, without recursion: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def test_the_finder_sees_a_cycle_when_there_is_one():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_product_imports_itself_back(monkeypatch):
    # Given the import graph of the product's packages
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    graph = grimp.build_graph(*PACKAGES)
    modules = set(graph.modules)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}

    # Then no group of modules imports each other in a circle
    assert len(modules) > 100
    assert strongly_connected(imports) == []
