"""`python -m pipeline.sweep SPEC`: see pipeline.sweep.cli."""

import sys

from pipeline.sweep.cli import main

sys.exit(main())
