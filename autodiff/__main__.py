"""``python -m autodiff``: the same command line as the ``autodiff`` script."""

import sys

from .cli import main

sys.exit(main())
