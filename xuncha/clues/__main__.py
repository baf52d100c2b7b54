"""`python -m xuncha.clues [--check]`: export the clue contracts' JSON Schema to clues/schema/."""

import sys

from xuncha.clues.schemas import main

sys.exit(main())
