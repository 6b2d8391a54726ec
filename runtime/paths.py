"""Where things are on disk: the project root, found from this file (the image copies the package)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT_ROOT / ".data"  # local state of the tools: MLflow store, checkpoints, demo runs
