"""Wrong command lines, for every subcommand found by walking the argparse tree: an unknown flag, a bad
choice, a non-number for a number option, a missing required argument. Each exits 2 with an `error`
line last and no traceback, and never reaches the command. Every help page works and names each of
its options. All in-process, through `main`."""

from __future__ import annotations

import argparse

import pytest

import pipeline.cli
from pipeline.cli import build_parser, main


def _walk(parser: argparse.ArgumentParser, words: list[str]):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, [*words, name])


def _is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


PARSERS = list(_walk(build_parser(), []))
LEAVES = [(words, parser) for words, parser in PARSERS if not _is_group(parser)]
GROUPS = [(words, parser) for words, parser in PARSERS if _is_group(parser)]
NUMBER_TYPES = {int: "invalid int value", float: "invalid float value"}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def _needed(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Positionals that must be given and required options, in the parser's order."""
    return [a for a in parser._actions if (not a.option_strings and a.nargs not in ("?", "*")) or
            (a.option_strings and a.required)]


def _words_for(action: argparse.Action, value: str | None = None) -> list[str]:
    value = value if value is not None else (str(action.choices[0]) if action.choices else "x")
    return [value] if not action.option_strings else [action.option_strings[0], value]


def _minimal(parser: argparse.ArgumentParser, *, leave_out=None, replace=None) -> list[str]:
    """The shortest command line the parser accepts; one needed argument left out or given a bad value."""
    argv = []
    for action in _needed(parser):
        if action is leave_out:
            continue
        argv += _words_for(action, "not-a-choice" if action is replace else None)
    return argv


def _ids(cases):
    return [" ".join(argv) for argv, _ in cases]


def _cases():
    cases = []
    for words, parser in LEAVES:
        base = _minimal(parser)
        cases.append(([*words, *base, "--no-such-flag"], "unrecognized arguments"))
        for action in _options(parser):
            if action.choices:
                cases.append(([*words, *base, action.option_strings[0], "not-a-choice"], "invalid choice"))
            if action.type in NUMBER_TYPES:
                cases.append(([*words, *base, action.option_strings[0], "twelve"], NUMBER_TYPES[action.type]))
        for action in _needed(parser):
            if not action.option_strings and action.choices:
                cases.append(([*words, *_minimal(parser, replace=action)], "invalid choice"))
            cases.append(([*words, *_minimal(parser, leave_out=action)], "error"))
    for words, parser in GROUPS:  # a command group without its ACTION (or COMMAND), and with an unknown one
        cases.append((words, "required"))
        cases.append(([*words, "no-such-action"], "invalid choice"))
    return cases


CASES = _cases()


@pytest.fixture
def parser_that_never_runs(monkeypatch):
    """`main` with every command replaced by one that fails the test: a wrong command line must stop in parsing."""
    def never(args):
        raise AssertionError(f"a wrong command line reached {args.command}")

    def build():
        parser = build_parser()
        for _, child in _walk(parser, []):
            if not _is_group(child):
                child.set_defaults(func=never)
        return parser

    monkeypatch.setattr(pipeline.cli, "build_parser", build)


def _assert_one_clean_error(code, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error") or "error:" in last, err


def test_the_tree_covers_every_command():
    names = {" ".join(words) for words, _ in PARSERS}
    assert {"demo build", "data validate", "data show", "data import", "data pull", "run", "runs list", "runs show",
            "runs merge", "runs import", "tune", "build", "report", "geometry build", "dashboard", "benchmarks"} <= names
    assert len(CASES) > 3 * len(LEAVES)


@pytest.mark.parametrize("argv,says", CASES, ids=_ids(CASES))
def test_a_wrong_command_line_is_one_error_and_exit_2(argv, says, parser_that_never_runs, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    _assert_one_clean_error(done.value.code, err)
    assert says in err, err


@pytest.mark.parametrize("argv,says", [
    (["run", "--shard", "half"], "--shard half: must be i/n"),
    (["data", "import", "ufp4", "x.json", "--name", "n", "--skip-invalid"], "--skip-invalid is for the dvb format only"),
    (["report", "--by", "planet"], "unknown grouping 'planet'"),
    (["report", "--min-users", "3"], "too small"),
    (["build", "--generator", "g", "--prism", "/nonexistent/prism"], "no PRISM files in /nonexistent/prism"),
])
def test_a_usage_error_inside_a_command_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    code = main([*argv, "--cache", str(tmp_path)])
    err = capsys.readouterr().err
    _assert_one_clean_error(code, err)
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and says in err, err


def _shown(action: argparse.Action) -> list[str]:
    if isinstance(action, argparse._SubParsersAction):
        return list(action.choices)
    if action.option_strings:
        return list(action.option_strings)
    if action.metavar:
        return [action.metavar]
    return ["{" + ",".join(map(str, action.choices)) + "}"] if action.choices else [action.dest]


@pytest.mark.parametrize("words,parser", PARSERS, ids=[" ".join(w) or "mvpbench" for w, _ in PARSERS])
def test_every_help_page_names_each_of_its_options(words, parser, capsys):
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mvpbench")
    missing = [name for action in parser._actions if action.help is not argparse.SUPPRESS
               for name in _shown(action) if name not in out]
    assert not missing, f"{' '.join(words)} --help does not mention {missing}"
