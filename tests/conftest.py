"""pytest configuration: plots go to files (Agg backend); helpers live in ``_stats.py``."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
