"""``python -m hpo.cli``: the ``pesweep`` command (what the schedulers' jobs run)."""

import sys

from hpo.cli.main import main

sys.exit(main())
