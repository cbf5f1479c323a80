"""`python -m rollout.demo` (what `make demo` runs)."""

import sys

from rollout.demo.run import main

sys.exit(main())
