"""Print the oldest supported versions of skae's dependencies, one per line.

Reads the ``>=`` floors of ``[project] dependencies`` in pyproject.toml and
pins each one (``numpy>=1.26`` -> ``numpy==1.26.0``), so that CI tests the
versions the project claims to support, straight from its own metadata.
"""

import re
from pathlib import Path

import tomllib

pyproject = Path(__file__).parents[1] / "pyproject.toml"
project = tomllib.loads(pyproject.read_text())
for requirement in project["project"]["dependencies"]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)\s*", requirement)
    if match is None:
        raise SystemExit(f"not a plain 'name>=version' floor: {requirement!r}")
    name, version = match.groups()
    parts = version.split(".")
    print(f"{name}=={'.'.join(parts + ['0'] * (3 - len(parts)))}")
