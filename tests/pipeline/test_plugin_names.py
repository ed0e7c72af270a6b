"""No caller branches on a plug-in's name: a protocol, backend or source is compared with a name only
in its own module and the registry; everything else reads the traits it registered (issue 28)."""

import ast
from pathlib import Path

from pipeline.backends.config import BACKEND_KINDS
from pipeline.protocols import REGISTRY as PROTOCOLS
from pipeline.sources import SOURCES

REPO = Path(__file__).resolve().parents[2]
# family -> (its registered names, where they may be compared: its own modules)
FAMILIES = {
    "protocol": (set(PROTOCOLS.names()), ("pipeline/protocols.py",)),
    "backend": (set(BACKEND_KINDS.names()), ("pipeline/backends/",)),
    "source": (set(SOURCES.names()), ("pipeline/sources/",)),
}
OWN = ("pipeline/registry.py",)


def _names_in(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def name_comparisons(root: Path = REPO, families: dict = FAMILIES) -> list[str]:
    """Every `x == "name"`, `x != "name"`, `x in ("name", ...)` in pipeline/ where "name" is a
    registered plug-in's, outside that plug-in's own modules: file:line family name."""
    found = []
    for path in sorted((root / "pipeline").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=relative)):
            if not isinstance(node, ast.Compare) or not all(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                continue
            literals = set().union(*(_names_in(side) for side in [node.left, *node.comparators]))
            for family, (names, own) in families.items():
                if relative.startswith(own + OWN):
                    continue
                found += [f"{relative}:{node.lineno} {family} {name}" for name in sorted(literals & names)]
    return found


def test_no_caller_compares_a_plug_ins_name():
    assert name_comparisons() == []


def test_the_check_finds_a_comparison(tmp_path):
    """The check itself can fail: a caller branching on a protocol's or a backend's name is found, in
    any form, and the same comparison in the plug-in's own module is not."""
    (tmp_path / "pipeline" / "runs").mkdir(parents=True)
    (tmp_path / "pipeline" / "runs" / "bad.py").write_text(
        'def f(spec):\n    if spec.protocol == "generate":\n        pass\n    return spec.backend not in ("openai", "x")\n')
    (tmp_path / "pipeline" / "protocols.py").write_text('ok = "generate" == "generate"\n')
    assert name_comparisons(tmp_path) == ["pipeline/runs/bad.py:2 protocol generate", "pipeline/runs/bad.py:4 backend openai"]
