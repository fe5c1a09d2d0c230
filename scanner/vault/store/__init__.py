"""The one store API over the vault database: all SQL against the vault lives here.

One module per topic; every name is re-exported, so ``from scanner.vault import store``
and ``store.x(...)`` reach all of them:

- :mod:`.base`: transaction, now, JSON columns;
- :mod:`.sheets`: printed sheets, clients, blank sheets given their client, search label words;
- :mod:`.pages`: ingest writes (source files, pages and their field reads, unmatched pages, stored files);
- :mod:`.fields`: sessions and fields read back, confirmed, reopened, kept as handwritten;
- :mod:`.notes`: what progress notes and summaries read, the progress-note store, signed notes and addenda;
- :mod:`.settings`: ``meta``, the clinician's settings, the abbreviation list.

The handwriting tables are written by :mod:`scanner.vault.handstore`; the search
index by the schema's triggers (:mod:`scanner.vault.searchindex`).
"""

from scanner.vault.searchindex import label_rows  # noqa: F401
from scanner.vault.store.base import (  # noqa: F401
    transaction,
    now,
    dumps,
    loads,
)
from scanner.vault.store.sheets import (  # noqa: F401
    register_sheet,
    sheet_layouts,
    sheet_sizes,
    sheet_forms,
    get_sheet,
    sheet_pages,
    save_labels,
    template_in_use,
    client_has_sheets,
    last_session_number,
    unreceived_sheet,
    numbered_sheets,
    last_confirmed_sheet,
    list_clients,
    sheet_header,
    blank_sheets,
    blank_sheet_ids,
    assign_sheet,
)
from scanner.vault.store.pages import (  # noqa: F401
    source_seen,
    source_fully_stored,
    page_stored,
    record_source,
    save_unmatched,
    open_unmatched,
    unmatched_row,
    close_unmatched,
    save_page,
    file_columns,
    referenced_files,
    sweep_unreferenced_files,
)
from scanner.vault.store.fields import (  # noqa: F401
    list_sessions,
    session_fields,
    field_status,
    show_session,
    crop_file,
    field_counts,
    field_ids,
    field_keys,
    parse_value,
    confirm_field,
    confirm_one,
    refuse_if_signed,
    reopen_field,
    KEEPABLE_KINDS,
    keep_field,
    keep_private,
)
from scanner.vault.store.notes import (  # noqa: F401
    progress_field_rows,
    client_session_rows,
    confirmed_progress_rows,
    confirmed_before,
    latest_date_before,
    save_progress_note,
    progress_note_rows,
    is_signed,
    SIGNED_COLUMNS,
    signed_row,
    save_signed,
    addenda_rows,
    save_addendum,
)
from scanner.vault.store.settings import (  # noqa: F401
    abbreviation_rows,
    shorthand,
    get_meta,
    set_meta,
    get_settings,
    set_settings,
)
