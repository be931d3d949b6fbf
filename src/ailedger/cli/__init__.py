"""The ``ailedger`` command line: a thin layer over the core and the domains."""
