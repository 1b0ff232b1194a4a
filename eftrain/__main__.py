"""``python -m eftrain``: the same as the ``eftrain`` console script."""

from eftrain.cli import main

raise SystemExit(main())
