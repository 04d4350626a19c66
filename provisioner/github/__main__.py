"""``python -m provisioner.github``: the step action.yml runs (docs/ci.md)."""

import sys

from provisioner.github.action import main

sys.exit(main())
