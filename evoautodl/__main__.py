"""``python -m evoautodl`` is the ``evoautodl`` command."""

from evoautodl.cli import main

raise SystemExit(main())
