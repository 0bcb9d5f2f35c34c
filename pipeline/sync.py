"""`python -m pipeline.sync`: Log what Tune's results hold and MLflow lacks.

The command only; the code and its docstring are in pipeline.tracking.sync.
"""

import sys

from pipeline.tracking.sync import main

if __name__ == "__main__":
    sys.exit(main())
