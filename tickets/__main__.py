"""`python -m tickets` is the `tickets` command."""

import sys

from tickets.cli import main

sys.exit(main())
