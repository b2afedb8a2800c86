"""``python -m bench.soak``: the soak's entry point (see ``bench/soak/__init__.py``)."""
from __future__ import annotations

import sys

from bench.soak.run import main

if __name__ == "__main__":  # not when a spawned abuse process imports this module again
    sys.exit(main())
