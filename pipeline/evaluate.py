"""`python -m pipeline.evaluate`: Score samples or a checkpoint against a dataset, without Ray or MLflow.

The command only; the code and its docstring are in pipeline.core.evaluate.
"""

import sys

from pipeline.core.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
