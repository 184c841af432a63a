"""``python -m livedocs_runner.cli``: the same entry point as the ``livedocs`` script."""

from . import main

main()
