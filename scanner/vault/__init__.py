"""The encrypted vault: keys, the database and its schema, the one store (all SQL), search, backups.

A vault is one folder, everything in it encrypted at rest: ``vault.db``
(SQLCipher: sheets, pages, fields, psychotherapy notes), a separate progress
store (``vault.progress_db``, progress notes only; nothing from a private field
is ever written there) and sealed files (page images, crops). Every SQL
statement against the vault belongs in this package.

Contracts (details in each module's docstrings)::

    Vault.create(path, passphrase) -> (Vault, recovery_code)
    Vault.open(path, passphrase=None, recovery_code=None) -> Vault     # WrongPassphrase: exit 3
    vault.put_file(data, kind) -> file_id; vault.get_file(file_id) -> bytes; vault.change_passphrase(new)
    store.transaction(db); store.get_sheet(vault, session)              # BadInput when there is none
    store.show_session(vault, session) -> {..., "pages": [...], "fields": [{"key", "kind", "privacy",
        "value", "confidence", "flags", "status" (pending|confirmed|kept), "confirmed_value", ...}]}
    store.confirm_field / reopen_field / keep_field / keep_private; store.save_page / save_unmatched

Values by kind: checkbox bool; choice a list (multiple) or str or None; scale
int or None; digits str; line and text str.

Modules:

- ``vault``: the folder, its key file and files; ``Vault.create`` (atomic) and ``Vault.open``
- ``crypto``: key derivation (Argon2id), key wrapping and sealed blobs (AES-256-GCM)
- ``db``: SQLCipher connections through sqlite-utils (import it before sqlite-utils)
- ``schema``: the schemas and their numbered migrations (vault and progress store)
- ``store``: the one store API over the vault database: sheets, pages, fields, confirmations, signed notes (a package)
- ``handstore``: the handwriting exemplars' SQL, moved out of :mod:`scanner.hand.exemplars`
- ``search``: FTS5 words and trigrams, fuzzy, shorthand and handwriting tiers; ``Searcher``, ``reindex`` (a package)
- ``searchindex``: the search index's tables and triggers
- ``backup``: one encrypted, verifiable backup file and its checked restore
- ``recovery``: the paper recovery sheet printed at ``inklock init``
- ``lock``: ``hold(vault_dir, name, on_wait)``: a flock, one writing job of a kind at a time
"""
