"""``python -m subsel_plugins.adapters.usb --c config.yaml``."""

import sys

from .runner import main

sys.exit(main())
