"""Where the project's tracked artefacts live (connectors/, ksql/, monitoring/, stack/...).

They ship with the checkout, not with the configuration file, so they are found from the
package's own location (the project is installed editable from its checkout).
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
