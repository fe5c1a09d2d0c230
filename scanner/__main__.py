"""``python -m scanner``: the same as the ``inklock`` command."""

import sys

from scanner.cli.main import main

sys.exit(main())
