"""`python -m auriko_nb.cli ...`: the `auriko-nb` console script without its entry point installed."""

import sys

from . import main

sys.exit(main())
