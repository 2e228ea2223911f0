"""``aiflow new NAME``: a project of your own, outside this repository.

    aiflow new pizza                          # a minimal assistant
    aiflow new praxis --template receptionist # the reference receptionist, as your own code
    aiflow new shop --template bedrock        # answers from a model on Amazon Bedrock

A project is a folder with its own ``template.yaml`` (deploying ``<package>.app:assistant``),
``samconfig.toml``, ``Makefile`` (``make run``, ``make call``, ``make test``, ``make build``,
``make deploy``), ``pyproject.toml`` depending on ``aiflow-serverless`` (this version), the
assistant package under ``functions/``, a :class:`~aiflow.testing.CallSimulator` test and a
``*.call.yaml`` scenario, the sample events of ``infra/events/`` and a README. Its build ships
the framework from the package index (or ``PIP_FIND_LINKS``) and the user's package, nothing
else.

The files are package data (``project-templates/``, every file ending in ``.tmpl``):
``common/`` for every project, one folder per template, and ``shared/`` plus the
receptionist's files, which are copies of this repository's (``template.yaml``, ``infra/``,
``functions/Makefile``, ``functions/receptionist/``) refreshed by ``make project-templates``
(``python -m aiflow.dev.scaffold --sync .``); a test fails when they are stale. Placeholders:
``__PROJECT__``, ``__PACKAGE__``, ``__ASSISTANT__``, ``__AIFLOW_VERSION__``.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..errors import AiflowError

TEMPLATES = {
    "minimal": "a small assistant to start from: greeting, echo, keys, goodbye",
    "receptionist": "the reference receptionist (one YAML file), copied as your own package",
    "bedrock": "answers from a model on Amazon Bedrock, with a tool",
}
TEMPLATE_ROOT = Path(__file__).with_name("project-templates")
SUFFIX = ".tmpl"
# Names a project's package must not take: they would shadow the framework or the tests.
_RESERVED = frozenset({"aiflow", "pytest_aiflow", "tests", "test", "functions", "infra"})
# The repository's assistant, as template.yaml names it; a project names its own.
_REPO_ASSISTANT = "receptionist.app:assistant"


class ScaffoldError(AiflowError):
    """The project cannot be created as asked (the message says what to change)."""

    code = "scaffold"


def add_parser(commands: Any) -> None:
    """The ``new`` subcommand."""
    parser = commands.add_parser(
        "new",
        help="create a project of your own (template.yaml, Makefile, tests, an assistant)",
        description="Create a standalone project: its own template.yaml, samconfig.toml, "
        "Makefile (make run / call / test / build / deploy), pyproject.toml depending on "
        "aiflow-serverless, an assistant under functions/, tests and sample events.",
    )
    parser.add_argument("name", help="the folder to create; its name names the project")
    parser.add_argument(
        "--template",
        "-t",
        choices=list(TEMPLATES),
        default="minimal",
        help="; ".join(f"{name}: {what}" for name, what in TEMPLATES.items())
        + " (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``aiflow new``; 0 on success, 1 when the project cannot be created.

    Plain output: this works with the base install (no ``local`` extra yet).
    """
    try:
        folder = create_project(Path(args.name), template=args.template)
    except (ScaffoldError, OSError) as exc:
        print(f"aiflow new: {exc}", file=sys.stderr)
        return 1
    package = package_name(folder.resolve().name)
    print(
        f"Created {folder} (template {args.template}): your assistant is "
        f"functions/{package}/app.py, deployed as {package}.app:assistant."
    )
    print("Next:")
    for command, what in (
        (f"cd {folder}", ""),
        ("make run", "# the assistant on http://127.0.0.1:3000/webhook (first run installs)"),
        ("make call", "# in a second terminal: a phone call in the terminal"),
        ("make test", "# its tests: tests/*.py and tests/*.call.yaml"),
        ("make deploy", "# AWS credentials needed; the first time asks (sam deploy --guided)"),
    ):
        print(f"  {command:<12} {what}".rstrip())
    return 0


def package_name(project: str) -> str:
    """The Python package of a project: its name in lower case, ``-`` and ``.`` as ``_``.

    Raises:
        ScaffoldError: the name cannot be a package (or would shadow one that matters).
    """
    name = re.sub(r"[-.\s]+", "_", project.strip()).lower()
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ScaffoldError(
            f"{project!r} cannot name a Python package: use letters, digits, '-' or '_', "
            "starting with a letter (e.g. pizza or my-shop)"
        )
    if name in _RESERVED or name in sys.stdlib_module_names:
        raise ScaffoldError(f"{project!r} would shadow the module {name!r}: choose another name")
    return name


def create_project(folder: Path, *, template: str = "minimal") -> Path:
    """Write a new project into ``folder`` (created; must not exist or be empty).

    Returns the folder. Raises :class:`ScaffoldError` for a bad name, template or folder.
    """
    if template not in TEMPLATES:
        raise ScaffoldError(f"unknown template {template!r}; one of {', '.join(TEMPLATES)}")
    folder = folder.expanduser()
    package = package_name(folder.resolve().name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(f"{folder} exists and is not empty: choose a new folder")
    files = project_files(template, project=folder.resolve().name, package=package)
    for relative, text in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def project_files(template: str, *, project: str, package: str) -> dict[str, str]:
    """Relative path -> content of every file of a new project."""
    values = {
        "__PROJECT__": project,
        "__PACKAGE__": package,
        "__ASSISTANT__": f"{package}.app:assistant",
        "__AIFLOW_VERSION__": framework_version(),
    }
    files: dict[str, str] = {}
    for layer in ("shared", "common", template):
        for source in _template_files(TEMPLATE_ROOT / layer):
            relative = source.relative_to(TEMPLATE_ROOT / layer).as_posix()
            relative = _render(relative.removesuffix(SUFFIX), values)
            relative = re.sub(r"(^|/)dot-", r"\1.", relative)  # dot-gitignore -> .gitignore
            files[relative] = _render(source.read_text(encoding="utf-8"), values)
    return files


def framework_version() -> str:
    """The installed aiflow-serverless version a new project pins (what it was made with)."""
    try:
        return version("aiflow-serverless")
    except PackageNotFoundError:
        raise ScaffoldError(
            "aiflow-serverless is not installed (pip install aiflow-serverless), so a "
            "project cannot name the version it depends on"
        ) from None


def _template_files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        raise ScaffoldError(f"the project templates are incomplete: no {folder}")
    for path in sorted(folder.rglob(f"*{SUFFIX}")):
        if path.is_file():
            yield path


def _render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


# --- the copies of this repository's files ---------------------------------------------------

Transform = Callable[[str], str]


def _template_yaml(text: str) -> str:
    if f"Default: {_REPO_ASSISTANT}" not in text:
        raise ScaffoldError(f"template.yaml: no `Default: {_REPO_ASSISTANT}` to replace")
    return text.replace(_REPO_ASSISTANT, "__ASSISTANT__")


def _receptionist(text: str) -> str:
    """The receptionist as the project's own package."""
    for repo_name, project_name in (
        ("functions/receptionist/", "functions/__PACKAGE__/"),
        ("receptionist.app", "__PACKAGE__.app"),
        ("receptionist._build", "__PACKAGE__._build"),
    ):
        text = text.replace(repo_name, project_name)
    return text


def _same(text: str) -> str:
    return text


def shared_sources(repo: Path) -> dict[str, tuple[Path, Transform]]:
    """Package data path (under ``project-templates/``) -> (repository file, transform)."""
    sources: dict[str, tuple[Path, Transform]] = {
        "shared/template.yaml": (repo / "template.yaml", _template_yaml),
        "shared/infra/websocket.yaml": (repo / "infra" / "websocket.yaml", _same),
        "shared/infra/env/local.json": (repo / "infra" / "env" / "local.json", _same),
        "shared/functions/Makefile": (repo / "functions" / "Makefile", _same),
    }
    for event in sorted((repo / "infra" / "events").glob("*")):
        if event.suffix in (".json", ".md"):
            sources[f"shared/infra/events/{event.name}"] = (event, _same)
    receptionist = repo / "functions" / "receptionist"
    for path in sorted(receptionist.iterdir()):
        if path.is_file() and path.suffix in (".py", ".yaml", ".md", ".typed"):
            sources[f"receptionist/functions/__PACKAGE__/{path.name}"] = (path, _receptionist)
    for scenario in ("greeting_and_goodbye", "three_silences"):
        path = repo / "tests" / "scenarios" / f"{scenario}.call.yaml"
        sources[f"receptionist/tests/{scenario}.call.yaml"] = (path, _receptionist)
    return sources


def stale_copies(repo: Path, root: Path = TEMPLATE_ROOT) -> list[str]:
    """The copies that differ from the repository's files (or are missing or left over)."""
    expected = {
        target + SUFFIX: transform(source.read_text(encoding="utf-8"))
        for target, (source, transform) in shared_sources(repo).items()
    }
    stale = [
        target
        for target, text in expected.items()
        if not (root / target).is_file() or (root / target).read_text(encoding="utf-8") != text
    ]
    copied = [root / "shared", root / "receptionist" / "functions"]
    for folder in copied:
        for path in folder.rglob(f"*{SUFFIX}") if folder.is_dir() else ():
            if path.relative_to(root).as_posix() not in expected:
                stale.append(path.relative_to(root).as_posix())
    return sorted(stale)


def sync_copies(repo: Path, root: Path = TEMPLATE_ROOT) -> list[str]:
    """Refresh the copies from ``repo``; returns what changed."""
    changed = stale_copies(repo, root)
    expected = shared_sources(repo)
    for target in changed:
        path = root / target
        key = target.removesuffix(SUFFIX)
        if key not in expected:
            path.unlink()
            continue
        source, transform = expected[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(transform(source.read_text(encoding="utf-8")), encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiflow.dev.scaffold --sync REPO`` (``make project-templates``)."""
    parser = argparse.ArgumentParser(prog="python -m aiflow.dev.scaffold")
    parser.add_argument("--sync", type=Path, required=True, metavar="REPO")
    args = parser.parse_args(argv)
    changed = sync_copies(args.sync.resolve())
    for target in changed:
        print(f"updated project-templates/{target}")
    print(f"{len(changed)} file(s) updated" if changed else "project templates are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
