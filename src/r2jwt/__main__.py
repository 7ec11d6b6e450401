"""``python -m r2jwt``: the same as the ``r2jwt`` command."""

import sys

from r2jwt.cli import main

sys.exit(main())
