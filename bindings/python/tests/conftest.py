"""Shared fixtures: paths of the repository and of this package."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent.parent
VECTORS_DIR = REPO_ROOT / "tests" / "vectors"
EXAMPLES_DIR = PACKAGE_DIR / "examples"
