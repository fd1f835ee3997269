"""Java artifacts of the local stack, resolved by Maven from the one pom (stack/pom.xml).

Each profile of the pom is one runtime (a service's classpath, or a Kafka Connect plugin
directory); it is copied into `<data_dir>/lib/<profile>/`. A stamp with the pom's hash
makes a second run skip Maven entirely; Maven's own cache (~/.m2) means a changed pom
downloads only what is new.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from cdc_ods.errors import ServiceError
from cdc_ods.paths import tool_file
from cdc_ods.stack.context import StackContext

STAMP = ".resolved"


def pom_path() -> Path:
    """The one pom: the tool's own file (cdc_ods.paths), not the workspace's."""
    return tool_file("stack", "pom.xml")


def _pom_hash() -> str:
    return hashlib.sha256(pom_path().read_bytes()).hexdigest()


def is_resolved(ctx: StackContext, profile: str) -> bool:
    stamp = ctx.lib(profile) / STAMP
    return stamp.is_file() and stamp.read_text().strip() == _pom_hash()


def resolve(
    ctx: StackContext,
    profiles: Iterable[str],
    on_profile: Callable[[str], None] | None = None,
) -> list[str]:
    """Copy each profile's runtime jars into lib/<profile>; returns the profiles resolved now."""
    pending = [p for p in dict.fromkeys(profiles) if not is_resolved(ctx, p)]
    if not pending:
        return []
    if shutil.which("mvn") is None:
        raise ServiceError("Maven (mvn) not found; run `make setup` (installs maven)")
    done = []
    digest = _pom_hash()
    for profile in pending:
        if on_profile:
            on_profile(profile)
        target = ctx.lib(profile)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        result = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(pom_path()),
                "-P",
                profile,
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = [ln for ln in (result.stdout + result.stderr).splitlines() if "ERROR" in ln]
            reason = " | ".join(lines[:3]) or (result.stdout + result.stderr).strip()[-400:]
            raise ServiceError(f"Maven resolution failed for profile {profile!r}: {reason}")
        (target / STAMP).write_text(digest + "\n")
        done.append(profile)
    return done
