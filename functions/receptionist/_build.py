"""Build step of this package, run by functions/Makefile on the artifact's copy of it:
``python -m receptionist._build ARTIFACT_PACKAGE_DIR``.

It parses ``receptionist.yaml`` once and writes ``receptionist.yaml.json`` next to it, so a
cold start reads JSON and never imports a YAML parser (~30 ms); a broken YAML fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .config import compile_config


def main(argv: list[str]) -> int:
    """Compile the YAML of each package directory given."""
    for folder in argv:
        print("compiled", compile_config(Path(folder) / "receptionist.yaml"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
