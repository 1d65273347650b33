"""``python -m nameort`` is the ``nameort`` command."""

from .cli import main

main(prog_name="nameort")
