"""`python -m benchmarks`: the harness's command line (see benchmarks/cli.py)."""

import sys

from .cli import main

sys.exit(main())
