"""`python -m pipeline.latent`: Draw a checkpoint's latent-space maps.

The command only; the code and its docstring are in pipeline.core.latent.
"""

import sys

from pipeline.core.latent import main

if __name__ == "__main__":
    sys.exit(main())
