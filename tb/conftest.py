"""pytest set-up shared by the testbenches in ``tb/``.

Makes the repository root importable, so test files can ``from tb.common import sim`` however
pytest is started (``python -m pytest`` or the ``pytest`` script, from any directory). The
simulator subprocess inherits this ``sys.path`` through the cocotb runner.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)
