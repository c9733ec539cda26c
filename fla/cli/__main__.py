"""``python -m fla.cli``: the ``fla`` command."""

import sys

from fla.cli import main

sys.exit(main())
