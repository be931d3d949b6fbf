"""``python -m ailedger.cli``: the same as the ``ailedger`` command."""

from ailedger.cli.main import main

main()
