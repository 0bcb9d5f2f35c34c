"""`python -m pipeline.train`: Train a spec's fixed trial once, without Ray or MLflow.

The command only; the code and its docstring are in pipeline.core.train.
"""

import sys

from pipeline.core.train import main

if __name__ == "__main__":
    sys.exit(main())
