"""The tool's own files, found from the installed package wherever it is installed.

They are the Java pins and the Query Server plug-in (`stack/`), the JMX exporter rules of the
stack's JVMs (`monitoring/jmx/`), the producers' demo schemas (`producers/`), and the defaults
`cdc init` copies into a new workspace (`monitoring/` rules and dashboards,
`connectors/OVERRIDES.md`). In the checkout, `cdc_ods/tool_files/` holds links to the
top-level folders, so each file has one copy; a wheel carries the files themselves
(pyproject.toml's package-data names them).

The operator's files are not here: `connectors/`, `ksql/` and `monitoring/` of the workspace
resolve against the configuration file's directory (`Config.root`).
"""

from __future__ import annotations

from pathlib import Path

from cdc_ods.errors import CdcError

TOOL_FILES = Path(__file__).resolve().parent / "tool_files"


def tool_file(*parts: str) -> Path:
    """The path of one of the tool's files (or folders), e.g. `tool_file("stack", "pom.xml")`."""
    path = TOOL_FILES.joinpath(*parts)
    if not path.exists():
        raise CdcError(
            f"{path} is missing from the cdc-ods installation: reinstall the package"
            " (a wheel carries the files pyproject.toml's package-data names)"
        )
    return path
