"""`python -m callvault.cli …` (how `callvault demo` starts its agent)."""

import sys

from callvault.cli.app import main

sys.exit(main())
