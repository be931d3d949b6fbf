"""ailedger's tests: a package, so `tests.*` never resolves to a third-party `tests`."""
