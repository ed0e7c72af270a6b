"""DESIGN §2's import rules, read from every module's source (AST, nothing imported): `analysis`
never imports `pipeline` or `dashboard`; `dashboard` never imports `pipeline`; neither imports
anything heavy, even inside a function. A known debt would be listed here by module, so a new one fails."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "vllm", "trl", "peft", "datasets", "accelerate", "ray"}
FORBIDDEN = {"analysis": {"pipeline", "dashboard"} | HEAVY, "dashboard": {"pipeline"} | HEAVY}
# None now: the Runs page starts `mvpbench run` as a process (dashboard/jobs.py), it imports no pipeline code.
KNOWN_DEBTS: set[tuple[str, str]] = set()


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every import in a file, wherever it sits (module or function level)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def violations(package: str, root: Path = REPO) -> list[tuple[str, str]]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        found += [(relative, r) for r in sorted(imported_roots(path) & FORBIDDEN[package]) if (relative, r) not in KNOWN_DEBTS]
    return found


def test_analysis_and_dashboard_keep_to_their_layer():
    assert violations("analysis") == [] and violations("dashboard") == []


# Inside analysis, layers import only downward: data ← stats ← present (issue 28).
LAYER_FORBIDDEN = {"data": {"analysis.stats", "analysis.present"}, "stats": {"analysis.present"}, "present": set()}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute imports), wherever it sits."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def layer_violations(root: Path = REPO) -> list[tuple[str, str]]:
    found = []
    for layer, banned in LAYER_FORBIDDEN.items():
        for path in sorted((root / "analysis" / layer).rglob("*.py")):
            hits = {m for m in imported_modules(path) for b in banned if m == b or m.startswith(b + ".")}
            found += [(path.relative_to(root).as_posix(), m) for m in sorted(hits)]
    return found


def test_analysis_layers_import_only_downward():
    assert layer_violations() == []
    assert not [p.name for p in (REPO / "analysis").glob("*.py") if p.name != "__init__.py"]  # every module sits in a layer


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    for layer in LAYER_FORBIDDEN:
        (tmp_path / "analysis" / layer).mkdir(parents=True)
    (tmp_path / "analysis" / "data" / "bad.py").write_text("from analysis.stats.groups import analyse_groups\n")
    (tmp_path / "analysis" / "stats" / "worse.py").write_text("def f():\n    from analysis.present import verdict\n")
    found = {(path, module.rsplit(".", 1)[0] if module.count(".") > 2 else module) for path, module in layer_violations(tmp_path)}
    assert found == {("analysis/data/bad.py", "analysis.stats.groups"), ("analysis/stats/worse.py", "analysis.present"),
                     ("analysis/stats/worse.py", "analysis.present.verdict")}


def test_the_rule_catches_a_forbidden_import(tmp_path):
    """The check itself can fail: an analysis module that imports the pipeline (even lazily) is found."""
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "bad.py").write_text("def f():\n    from pipeline.runs import runner\n    import torch\n")
    assert violations("analysis", tmp_path) == [("analysis/bad.py", "pipeline"), ("analysis/bad.py", "torch")]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, root: Path, known: set[str]) -> set[str]:
    """The modules of `known` a file imports, anywhere in it (function level and TYPE_CHECKING too):
    `from a.b import c` is the module a.b.c where c is one, else a.b."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                out.add(target if target in known else base)
    return (out & known) - {here}


def import_cycles(package: str, root: Path = REPO) -> list[list[str]]:
    """Every set of `package`'s modules that import one another in a circle (strongly connected
    components of the import graph with more than one module), each sorted."""
    files = sorted((root / package).rglob("*.py"))
    known = {module_name(p, root) for p in files}
    graph = {module_name(p, root): _imported_modules(p, root, known) for p in files}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the package is small enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_the_pipeline_has_no_import_cycles():
    """No two pipeline modules import each other, directly or around a circle, not even lazily inside
    a function: a shared piece lives in a lower module (pipeline.chat, pipeline.runs.derive, pipeline.runs.plan)."""
    assert import_cycles("pipeline") == []


def test_the_cycle_check_finds_a_lazy_circle(tmp_path):
    """The check itself can fail: a circle closed by an import inside a function is found, and a
    chain that does not close is not."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.sub import b\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("def f():\n    from . import c\n")
    (tmp_path / "pkg" / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n")
    (tmp_path / "pkg" / "d.py").write_text("import pkg.a\n")
    assert import_cycles("pkg", tmp_path) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]
