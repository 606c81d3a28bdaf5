"""Where the tests find the project and the data fixtures outside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
LAR = ROOT.parent / "shared" / "fixtures" / "lar-samples" / "data"  # benchmark samples (ACRE, RAVEN, PVR)
