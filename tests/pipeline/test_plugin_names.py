"""No caller branches on a plug-in's name: a protocol, backend or source is compared with a name only
in its own module and the registry; everything else reads the traits it registered (issue 28).

The pipeline is held to the letter: no registered name is compared anywhere outside its own modules.
analysis and the dashboard cannot read the pipeline's traits (they never import it): they name a
built-in protocol only through `analysis.data.contracts` (CHOICE, LOGPROB, GENERATE, where the Result
contract defines those protocols' raw fields), and a backend's nature through what the run's manifest
records (`stand_in`). Their own words that happen to equal a plug-in's name (a simulated "choice"
scoring shape) are not plug-ins: there a comparison counts when it is about the family (a name,
attribute or string in it says "protocol", "backend" or "source")."""

import ast
from pathlib import Path

from pipeline.backends.config import BACKEND_KINDS
from pipeline.protocols import REGISTRY as PROTOCOLS
from pipeline.sources import SOURCES

REPO = Path(__file__).resolve().parents[2]
# family -> (its registered names, where they may be compared: its own modules)
FAMILIES = {
    "protocol": (set(PROTOCOLS.names()), ("pipeline/protocols.py", "analysis/data/contracts.py")),
    "backend": (set(BACKEND_KINDS.names()), ("pipeline/backends/",)),
    "source": (set(SOURCES.names()), ("pipeline/sources/",)),
}
OWN = ("pipeline/registry.py", "analysis/data/registry.py")
# package -> whether a comparison must be about the family to count (see the module docstring)
PACKAGES = {"pipeline": False, "analysis": True, "dashboard": True}
# Modules another branch is changing (issue 28's analysis work): their `protocol == "choice"` moves to
# contracts.CHOICE there; until it lands they are not scanned. Drop an entry once its module is clean.
PENDING: tuple[str, ...] = ()


def _names_in(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _words_in(node: ast.Compare) -> set[str]:
    """Every name, attribute and string in a comparison, lower-cased."""
    words = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            words.add(sub.id.lower())
        elif isinstance(sub, ast.Attribute):
            words.add(sub.attr.lower())
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            words.add(sub.value.lower())
    return words


def _comparisons(path: Path, relative: str, about_family: bool, families: dict) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=relative)):
        if not isinstance(node, ast.Compare) or not all(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        literals = set().union(*(_names_in(side) for side in [node.left, *node.comparators]))
        words = _words_in(node) if about_family else set()
        for family, (names, own) in families.items():
            if relative.startswith(own + OWN) or (about_family and not any(family in w for w in words - literals)):
                continue
            found += [f"{relative}:{node.lineno} {family} {name}" for name in sorted(literals & names)]
    return found


def name_comparisons(root: Path = REPO, families: dict = FAMILIES, pending: tuple[str, ...] = PENDING) -> list[str]:
    """Every `x == "name"`, `x != "name"`, `x in ("name", ...)` in pipeline/, analysis/ and dashboard/
    where "name" is a registered plug-in's, outside that plug-in's own modules: file:line family name."""
    found = []
    for package, about_family in PACKAGES.items():
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative not in pending:
                found += _comparisons(path, relative, about_family, families)
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


def test_the_check_reads_analysis_and_the_dashboard(tmp_path):
    """A page or an analysis module that branches on a backend's or protocol's name is found; the
    contract's own names, and a word of the module's own that equals a plug-in's name, are not."""
    for folder in ("dashboard/views", "analysis/stats", "analysis/data"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "dashboard" / "views" / "runs.py").write_text(
        'def f(st, row):\n    if st.session_state.get("s_backend") == "fake":\n        pass\n    return row["protocol"] != "logprob"\n')
    (tmp_path / "analysis" / "stats" / "sim.py").write_text(
        'def f(shape, pl):\n    return shape.scoring == "choice", pl.col("protocol") == "choice"\n')
    (tmp_path / "analysis" / "data" / "contracts.py").write_text('def f(pl):\n    return pl.col("protocol") == "choice"\n')
    assert name_comparisons(tmp_path, pending=()) == [
        "analysis/stats/sim.py:2 protocol choice", "dashboard/views/runs.py:2 backend fake", "dashboard/views/runs.py:4 protocol logprob"]
