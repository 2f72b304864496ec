"""``python -m bench``: run the benchmarks (see ``bench.run``)."""

import sys

from .run import main

sys.exit(main())
