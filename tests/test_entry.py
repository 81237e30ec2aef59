"""The one loader of user code (``FILE.py:NAME`` / ``MODULE:NAME``) and the rule for an
artifact's recorded entry, which is untrusted text naming code to import."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from promptc import Module, Predict
from promptc.cli.entry import entry_for, entry_refusal, import_object, load_program
from promptc.exceptions import ConfigurationError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "prog.py").write_text("x = 1\n")
    (tmp_path / "top.py").write_text("x = 1\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "secret.py").write_text("x = 1\n")
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "away").symlink_to(tmp_path / "out")
    return tmp_path / "inside"


@pytest.mark.parametrize("entry", ["../pkg/prog.py:x"])
def test_dotdot_is_refused_even_when_it_lands_on_a_file(root: Path, entry: str) -> None:
    assert "no '..'" in str(entry_refusal(entry, root))


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (None, "records no entry"),
        ("", "records no entry"),
        ("prog.py", "not of the form"),
        ("away/secret.py:not-an-identifier", "not of the form"),
        ("/etc/passwd.py:x", "absolute path"),
        ("\\\\host\\share\\x.py:x", "absolute path"),
        ("away/secret.py:x", "resolves outside the current directory"),
        ("a/./b.py:x", "plain names"),
        ("a//b.py:x", "plain names"),
        (".git/hooks.py:x", "plain names"),
        ("lib/python3.12/x.py:x", "plain names"),
        ("venv/lib/site-packages/x.py:x", "installed code"),
        ("usr/lib/python3/dist-packages/x.py:x", "installed code"),
        ("x\x1b[2J.py:x", "not a plain NAME.py"),
        ("missing.py:x", "no file missing.py"),
        ("os.path:join", "names a module"),
        ("a" * 600 + ".py:x", "too long"),
    ],
)
def test_recorded_entries_outside_the_rule_are_refused(
    root: Path, entry: str | None, reason: str
) -> None:
    refusal = entry_refusal(entry, root)
    assert refusal is not None and reason in refusal


def test_a_plain_project_file_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "my-app" / "sub_dir").mkdir(parents=True)
    source = "import promptc\n\nprogram = promptc.Predict('q -> a')\n"
    (tmp_path / "my-app" / "sub_dir" / "prog_1.py").write_text(source)
    assert entry_refusal("my-app/sub_dir/prog_1.py:program", tmp_path) is None
    (tmp_path / "two.py").write_text("from dspy import Module\n\nclass Two(Module):\n    pass\n")
    assert entry_refusal("two.py:Two", tmp_path) is None


@pytest.mark.parametrize(
    ("source", "entry", "reason"),
    [
        # a project script with import-time effects: never imported on an artifact's word
        ("import os\n\ndef main():\n    pass\n\nos.remove('db')\n", "main", "not import promptc"),
        ("import promptc\n\ndef main():\n    pass\n", "main", "no class or top-level"),
        ("import promptc\nif True:\n    program = 1\n", "program", "no class or top-level"),
        ("from .promptc import x\nprogram = x\n", "program", "not import promptc"),
        ("import promptc\nprogram = (\n", "program", "cannot be read as Python (SyntaxError)"),
        ("import promptc\nx = " + "(" * 100_000 + ")" * 100_000 + "\n", "x", "cannot be read"),
        ("import promptc\nprogram = 1\n" + "#" * (1024 * 1024), "program", "over 1024 KiB"),
    ],
)
def test_a_file_that_is_not_a_program_file_is_refused_before_it_runs(
    tmp_path: Path, source: str, entry: str, reason: str
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "tool.py").write_text(source)
    refusal = entry_refusal(f"scripts/tool.py:{entry}", tmp_path)
    assert refusal is not None and reason in refusal


def test_installed_code_is_refused_even_from_a_directory_above_it() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    refusal = entry_refusal("json/decoder.py:JSONDecoder", stdlib)
    assert refusal is not None and "installed code" in refusal


def test_entry_for_records_a_file_inside_the_directory_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.py").write_text("")
    assert entry_for(f"{tmp_path / 'a' / 'p.py'}:program", tmp_path) == "a/p.py:program"
    assert entry_for("/elsewhere/p.py:program", tmp_path) == "/elsewhere/p.py:program"
    assert entry_for("pkg.mod:program", tmp_path) == "pkg.mod:program"


def test_load_program_takes_an_instance_or_a_no_argument_subclass(tmp_path: Path) -> None:
    source = tmp_path / "progs.py"
    source.write_text(
        "import promptc\n"
        "instance = promptc.Predict('q -> a')\n"
        "class NoArgs(promptc.Module):\n"
        "    def __init__(self):\n"
        "        self.p = promptc.Predict('q -> a')\n"
        "    def forward(self, q):\n"
        "        return self.p(q=q)\n"
        "class NeedsArgs(NoArgs):\n"
        "    def __init__(self, k):\n"
        "        super().__init__()\n"
        "CALLS = []\n"
        "def factory():\n"
        "    CALLS.append(1)\n"
        "    return promptc.Predict('q -> a')\n"
    )
    assert isinstance(load_program(f"{source}:instance"), Predict)
    built = load_program(f"{source}:NoArgs")
    assert isinstance(built, Module) and type(built).__name__ == "NoArgs"
    with pytest.raises(ConfigurationError, match="constructor needs arguments"):
        load_program(f"{source}:NeedsArgs")
    with pytest.raises(ConfigurationError, match="is a function, not a promptc Module"):
        load_program(f"{source}:factory")
    assert import_object(f"{source}:CALLS") == []  # the factory was never called


def test_import_errors_name_the_file_and_the_cause(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigurationError, match=r"importing .*broken.py failed: RuntimeError"):
        import_object(f"{tmp_path / 'broken.py'}:x")
    with pytest.raises(ConfigurationError, match="does not exist"):
        import_object(f"{tmp_path / 'absent.py'}:x")
    with pytest.raises(ConfigurationError, match="cannot import module"):
        import_object("promptc_no_such_module_xyz:x")
