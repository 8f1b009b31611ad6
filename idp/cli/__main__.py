"""`python -m idp.cli`: the same as the `idp` command."""

import sys

from idp.cli.main import main

sys.exit(main())
