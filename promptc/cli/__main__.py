"""``python -m promptc.cli``."""

import sys

from promptc.cli.app import main

sys.exit(main())
