"""The package-level import graph of cs_register, recordings and jobs: edges, mutual pairs and
cycle groups (strongly connected components), built with grimp, the library behind
import-linter.

    .venv/bin/python benchmarks/import_graph.py

docs/architecture.md quotes its output before and after the layered core.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOTS = ("cs_register", "recordings", "jobs")


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "cs_register" and len(parts) > 1 else parts[0]


def package_edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph(*ROOTS)
    edges = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            source, target = package_of(module), package_of(imported)
            if source != target and target.split(".")[0] in ROOTS:
                edges.add((source, target))
    return edges


def cycle_groups(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one package."""
    nodes = sorted({node for edge in edges for node in edge})
    successors = {node: sorted(b for a, b in edges if a == node) for node in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in successors[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in nodes:
        if node not in index:
            visit(node)
    return groups


def main() -> int:
    sys.path.insert(0, str(Path.cwd()))
    edges = package_edges()
    mutual = sorted({tuple(sorted(edge)) for edge in edges if (edge[1], edge[0]) in edges})
    print(f"package edges: {len(edges)}")
    print(f"mutual pairs: {len(mutual)}")
    for first, second in mutual:
        print(f"  {first} <-> {second}")
    groups = cycle_groups(edges)
    print(f"cycle groups: {len(groups)}")
    for group in groups:
        print("  " + " <-> ".join(group))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
