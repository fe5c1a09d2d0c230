"""The encrypted vault: keys, the database and its schema, the one store (all SQL), search, backups."""
