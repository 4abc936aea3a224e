"""``python -m edgecolor ...``: the same as the ``edgecolor`` command."""

import sys

from edgecolor.cli import main

sys.exit(main())
