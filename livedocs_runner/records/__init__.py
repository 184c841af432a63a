"""What is kept and proven about runs: the record store (and, as they come, migrations and snapshots)."""
