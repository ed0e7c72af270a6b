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
