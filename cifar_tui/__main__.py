"""`python -m cifar_tui` runs the same entry point as the `cifar-tui` command."""

import sys

from .cli import main

sys.exit(main())
