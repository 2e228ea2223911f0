"""What each cold-start change saves, item by item: the work the deployed webhook no longer
does on a cold start, timed in fresh interpreters (bench/README.md, "What each saved
millisecond came from"; the end-to-end effect of each commit is ``bench/compare.py``'s).

    python bench/items.py [--runs N] [--only TEXT]

Each item is a setup (already paid on a cold start, not timed) and the work timed: the CPU
of ``work`` after ``setup``, median of N fresh interpreters (default 15), with the webhook
function's environment. Stdlib only in this process; the children use the project's
``.venv``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from benchlib import child_env  # noqa: E402
from report import table  # noqa: E402

BOTO = "import botocore.session, botocore.config, aws_lambda_powertools, json"
PYDANTIC = "import aiflow"  # pydantic, the protocol models, their first schema build

# Five frozen dataclasses shaped like aiflow's public settings and policies (fields per
# class). Plain @dataclass(frozen=True) compiles __eq__, __hash__ and __repr__ for each; with
# aiflow.plain.FrozenValue those come from one base class ("instead" is timed and subtracted).
VALUE_CLASSES = """
from dataclasses import dataclass
from aiflow.plain import FrozenValue
for n, count in enumerate((18, 10, 8, 5, 3)):
    body = "".join(f"    f{{i}}: int | None = None\\n" for i in range(count))
    source = f"@dataclass({options})\\nclass C{{n}}({base}):\\n    'doc'\\n{{body}}"
    exec(source, globals())
"""

# (what changed, setup, the work a cold start no longer does[, what it does instead])
ITEMS: list[tuple[str, ...]] = [
    (
        "AWS clients from botocore, not boto3 (aiflow.awsclients)",
        BOTO,
        "import boto3",
    ),
    (
        "the token read without Powertools' parameters utility",
        BOTO + ", boto3",
        "import aws_lambda_powertools.utilities.parameters",
    ),
    (
        "events validated by their type's model, not a union of all",
        PYDANTIC + "\nfrom aiflow.protocol.events import Event, SessionStartEvent"
        "\nfrom pydantic import TypeAdapter\nSessionStartEvent.model_rebuild()",
        "TypeAdapter(Event)",
    ),
    (
        "the receptionist's configuration validated at build time (pickled), not per start",
        PYDANTIC + "\nimport os, pathlib, receptionist.config as c"
        "\npath = pathlib.Path(os.environ['RECEPTIONIST_CONFIG'])"
        "\npathlib.Path(str(path) + '.pickle').rename(str(path) + '.off')",
        "c.load_config()",
    ),
    (
        "the FAQ index built for the first question, not at start",
        PYDANTIC + "\nfrom receptionist.config import load_config, topic_keywords"
        "\nfrom receptionist.matching import FaqIndex\nconfig = load_config()",
        "FaqIndex.build(topic_keywords(config))",
    ),
    (
        "the call state's list default without a builtin default_factory",
        PYDANTIC + "\nfrom pydantic import BaseModel, Field",
        "class State(BaseModel):\n    messages: list[str] = Field(default_factory=list)\nState()",
    ),
    (
        "no outbound call contexts on an inbound call (aiflow.outbound)",
        PYDANTIC + "\nimport aiflow.store.dynamodb",
        "import aiflow.outbound.contexts as o; o.OutboundContext.model_rebuild()",
    ),
    (
        "the HTTP function without the WebSocket and worker entry points",
        PYDANTIC + "\nimport aiflow.lambda_.http",
        "import aiflow.lambda_.websocket, aiflow.lambda_.worker",
    ),
    (
        "the public settings and policies: ==, hash and repr from aiflow.plain.FrozenValue",
        PYDANTIC,
        VALUE_CLASSES.format(options="frozen=True", base=""),
        VALUE_CLASSES.format(options="frozen=True, eq=False, repr=False", base="FrozenValue"),
    ),
    (
        "the first AWS client: no listing of every service, models decoded to plain dicts"
        " (aiflow.awsclients.data_loader)",
        BOTO + "\nimport botocore.loaders, aiflow.awsclients as a"
        "\nbotocore.session.get_session().get_component('data_loader')"
        "\na.data_loader()",
        "botocore.session.get_session().create_client('dynamodb')",
        "a.session().create_client('dynamodb')",
    ),
    (
        "memory store, WAV helpers and difflib imported on first use",
        PYDANTIC,
        "import aiflow.store.memory, aiflow.protocol.wav, difflib",
    ),
]

CHILD = """
import time
{setup}
started = time.process_time_ns()
{work}
print((time.process_time_ns() - started) / 1e6)
"""


def measure(setup: str, work: str, env: dict[str, str], runs: int) -> float:
    """Median CPU ms of ``work`` after ``setup`` in fresh interpreters."""
    code = CHILD.format(setup=setup, work=work)
    values: list[float] = []
    for i in range(runs + 1):
        config = _fresh_config(env)  # every run gets a compiled copy of its own
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, **config},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        if i:  # the first run compiles .pyc files: discarded
            values.append(float(proc.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def _fresh_config(env: dict[str, str]) -> dict[str, str]:
    source = Path(env["RECEPTIONIST_CONFIG"])
    target = Path(tempfile.mkdtemp(prefix="aiflow-items-")) / source.name
    for suffix in ("", ".json", ".pickle"):
        if Path(str(source) + suffix).exists():
            shutil.copy(str(source) + suffix, str(target) + suffix)
    return {"RECEPTIONIST_CONFIG": str(target)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per item")
    parser.add_argument("--only", metavar="TEXT", help="the items whose label contains TEXT")
    args = parser.parse_args()
    env = child_env({"PYTHONPATH": str(ROOT / "functions")})
    env.pop("_HANDLER", None)  # the collector runs as usual: each item alone
    rows = []
    for label, setup, work, *instead in ITEMS:
        if args.only and args.only not in label:
            continue
        saved = measure(setup, work, env, args.runs)
        if instead:  # what a cold start does now in its place
            saved -= measure(setup, instead[0], env, args.runs)
        rows.append([label, f"{saved:.1f}"])
    print(f"CPU ms a cold start no longer spends, per item (median of {args.runs} interpreters):")
    print(table(["change", "ms"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
