"""Every `mvpbench` command shown in the README and docs/ is checked against the real CLI.

Each command line in a bash or console block is read from the file (continuations joined, `a | b |
c` alternatives split), its placeholders (FILE, NAME, RUN_ID, MODEL, `...`) replaced by real values,
and then:

- run, in this process, against a scratch copy of the demo cache (with PRISM-shaped files in its
  sources/prism), and must exit 0 (commands that would train or score are run with `--dry-run`,
  which plans and estimates without a model; on the fake backend, which needs none, they run, so a
  documented build → run → report chain runs in full);
- or, where it needs what no test may have (the Hugging Face hub, a GPU, an API key, a 72B model, a
  trained adapter, a long-running server), parsed by the real parser, so a renamed or removed flag
  still fails here;
- a console block's shown output must be what the command prints (the validation example).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.data.cache import default_cache_root
from pipeline.cli import build_parser, main
from tests.builders import conversation_record, dvb_record, survey_record, write_json, write_jsonl

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# What a documented command may need that no test can have: only parsed.
UNAVAILABLE_COMMANDS = {
    "data pull": "the Hugging Face hub",
    "build": "PRISM's files and a generator model",
    "dashboard": "a long-running server (tests/dashboard covers it)",
}
UNAVAILABLE_MARKERS = {
    "--backend vllm": "a GPU", "--backend openai": "an API", "Qwen/": "a model not packaged here",
    "<adapter>": "a trained adapter (the demo's adapters are not committed)",
    "mvpbench-qwen": "the benchmark that the build above would write",
    "--executor ray": "a Ray cluster",
}
DRY_RUN = ("run", "tune", "sweep")  # scoring and training: planned and estimated, nothing loaded
NEEDS_NOTHING = "--backend fake"  # deterministic, no weights, no network: run as documented, build included


@dataclass(frozen=True)
class Example:
    source: str  # file:line
    command: str
    output: tuple[str, ...] = ()  # a console block's shown output


def _commands(path: Path) -> list[Example]:
    examples, lines, block = [], path.read_text(encoding="utf-8").splitlines(), None
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("```"):
            block = None if block is not None else line[3:].strip()
        elif block in ("bash", "console", "sh"):
            text, start = line, k
            while text.rstrip().endswith("\\") and k + 1 < len(lines):
                k += 1
                text = text.rstrip()[:-1] + " " + lines[k].strip()
            if block == "console" and text.startswith("$ "):
                output = []
                while k + 1 < len(lines) and not lines[k + 1].startswith(("$ ", "```")):
                    k += 1
                    output.append(lines[k])
                examples.append(Example(f"{path.name}:{start + 1}", text[2:].strip(), tuple(output)))
            elif text.strip().startswith("mvpbench"):
                command = re.sub(r"\s+#.*$", "", text).strip()
                examples += [Example(f"{path.name}:{start + 1}", part.strip()) for part in command.split(" | ")]
        k += 1
    return examples


EXAMPLES = [e for path in DOCUMENTS for e in _commands(path)]


def test_the_docs_show_commands():
    """The reader below finds the documented commands (a change of fence or prompt would hide them)."""
    sources = {e.source.split(":")[0] for e in EXAMPLES}
    assert {"README.md", "RUNS.md", "TUNING.md", "CONSTRUCTION.md"} <= sources
    assert any(e.output for e in EXAMPLES)


def unlabelled_fences(path: Path) -> list[int]:
    """The lines of `path` that open a code fence with no language (closing fences are bare)."""
    found, inside = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            if not inside and not line.lstrip()[3:].strip():
                found.append(number)
            inside = not inside
    return found


def test_every_fence_names_its_language():
    """A block without a language is never read as commands here (only bash, console and sh are), so
    a command in it would go unchecked: every opening fence names one (`text` for a listing)."""
    assert {p.name: unlabelled_fences(p) for p in DOCUMENTS if unlabelled_fences(p)} == {}


def test_the_fence_check_finds_a_bare_fence(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\nmvpbench --help\n```\n\n```\nmvpbench run\n```\n")
    assert unlabelled_fences(doc) == [5]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A copy of the demo cache, a DVB file with a bad row 17 (the README's validation example) and
    good DVB files for the import examples."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copytree(default_cache_root() / "demo", root / "cache" / "demo")
    bad = [dvb_record(i) for i in range(20)]
    bad[16]["stated_prefs"] = {**bad[16]["stated_prefs"], "safety": 300}
    write_json(root / "bad" / "DVB-test.json", bad)
    for split in ("train", "val", "test"):
        write_json(root / f"DVB-{split}.json", [dvb_record(i + 100 * len(split)) for i in range(6)])
    prism = root / "cache" / "sources" / "prism"  # where `mvpbench data pull prism` puts PRISM's files
    countries = [("United Kingdom", "GBR"), ("United States", "USA"), ("Chile", "CHL"), ("Kenya", "KEN")]
    write_jsonl(prism / "survey.jsonl", [survey_record(i, birth=c, reside=c) for i, c in enumerate(countries)])
    write_jsonl(prism / "conversations.jsonl", [conversation_record(i, i % len(countries), conversation_history=[
        {"role": "user", "content": f"Tell me about hobby number {i}.", "turn": 0}]) for i in range(6)])
    return root


def _concrete(command: str, root: Path) -> list[str]:
    run_id = sorted(p.name for p in (root / "cache" / "demo" / "runs").iterdir())[0]
    words = (command.replace("[OTHER_RUN_DIR ...]", "").replace(" ... ", " --benchmark demo --model smollm2-135m --split test ")
             .replace("FILE...", "DVB-test.json").replace("FILES", "DVB-test.json").replace("NAME", "imported")
             .replace("RUN_ID", run_id).replace("MODEL", "smollm2-135m").replace("report.html", str(root / "report.html")).replace("docs/", f"{REPO / 'docs'}/")).split()
    return words[1:]


def _unavailable(command: str) -> str | None:
    if NEEDS_NOTHING in command:
        return None
    words = command.split()[1:]
    return next((why for name, why in UNAVAILABLE_COMMANDS.items() if words[: len(name.split())] == name.split()),
                next((why for marker, why in UNAVAILABLE_MARKERS.items() if marker in command), None))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.source} {e.command[:60]}")
def test_the_documented_command_works(example, scratch, monkeypatch, capsys):
    argv = _concrete(example.command, scratch)
    if _unavailable(example.command):
        build_parser().parse_args(argv)  # a flag the CLI no longer has fails here (argparse exits 2)
        return
    if argv and argv[0] in DRY_RUN and "--dry-run" not in argv and NEEDS_NOTHING not in example.command:
        argv.append("--dry-run")
    from pipeline.models import models_root

    monkeypatch.setenv("MVPBENCH_MODELS", str(models_root()))  # the weights already prepared, not a second copy
    monkeypatch.setenv("MVPBENCH_CACHE", str(scratch / "cache"))
    monkeypatch.chdir(scratch / "bad" if example.output else scratch)
    try:
        code = main(argv)
    except SystemExit as done:  # --help
        code = done.code
    out = capsys.readouterr()
    if example.output:
        assert [line for line in (out.out + out.err).splitlines() if line.strip()] == list(example.output), example.source
        return
    assert code == 0, f"{example.source}: mvpbench {' '.join(argv)}\n{out.err[-2000:]}"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def test_the_analysis_guides_opening_example_selects_one_run_its_functions_take():
    """docs/ANALYSIS.md's first example is what every function in its table is handed: one run (rows
    of several runs are refused, analysis.data.selection), so the example must select one and still run."""
    from analysis.stats.groups import paa_by_group

    namespace: dict = {}
    exec(_python_blocks(REPO / "docs" / "ANALYSIS.md")[0], namespace)  # noqa: S102 - the repository's own documentation
    scored = namespace["scored"]
    assert scored.height and scored.get_column("run_id").n_unique() == 1
    assert paa_by_group(scored, "special_region", B=0).get_column("instances").sum() == scored.height
