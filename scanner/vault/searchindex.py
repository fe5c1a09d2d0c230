"""The search index's tables, triggers and the SQL that makes a field's searchable text and tags.

Used by the schema migrations (:mod:`scanner.vault.schema`), by
:func:`scanner.vault.search.reindex` (the same statements) and by the query
side (:func:`scanner.vault.search.tag` builds the same tags).
"""

from __future__ import annotations

from scanner.values import is_risk_field


# -- search index (SPEC section 5 "Search") ------------------------------------
#
# ``search_docs`` holds the searchable text of each field: the confirmed value
# once confirmed, else the machine read (a draft). Two FTS5 indexes read it as
# external content: words (unicode61) and trigrams (substrings, OCR slips).
# Triggers on ``fields`` and ``sheets`` are the one write path, so
# confirmations, reopenings and rescans keep the index in step;
# ``scanner.vault.search.reindex`` rebuilds it from these same statements.
# Everything lives in the encrypted vault.db.
#
# ``tags`` makes the search filters part of the full-text query itself, with no
# join per match: one tag per client, field key, privacy, year, month and day,
# each exactly three private-use characters (a kind mark and a two-character
# number), so it is one token in the word index and one trigram in the
# trigram index. ``search_terms`` numbers client codes and field keys.
# ``scanner.vault.search.tag`` builds the same tags for a query.

# The text of a field row (``{row}`` is ``new`` in a trigger, a table alias
# otherwise): line, text, digits and choice values, then the label words of
# each ticked choice option and ticked checkbox (``search_labels``, issue 14:
# "suicidal" finds a ticked "Suicidal ideation: active"); scales have no words.
# json_each turns a string and a list of strings alike into rows.
_SEARCH_VALUE_SQL = """CASE WHEN json_valid(CASE WHEN {row}.status = 'confirmed' THEN {row}.confirmed_value
         ELSE {row}.value END) THEN CASE WHEN {row}.status = 'confirmed' THEN {row}.confirmed_value
         ELSE {row}.value END END"""
SEARCH_BODY_SQL = """(SELECT group_concat(w, ' ') FROM (
    SELECT j.value AS w FROM json_each(""" + _SEARCH_VALUE_SQL + """) j
        WHERE j.type = 'text' AND {row}.kind IN ('line', 'text', 'digits', 'choice')
    UNION ALL
    SELECT DISTINCT l.words FROM json_each(""" + _SEARCH_VALUE_SQL + """) j JOIN search_labels l
        ON l.key = {row}.key AND l.value = CASE j.type WHEN 'true' THEN 'yes' ELSE j.value END
        AND l.template = (SELECT s.template FROM sheets s WHERE s.sheet_id = {row}.sheet_id)
        WHERE {row}.kind IN ('choice', 'checkbox') AND j.type IN ('text', 'true')))"""
# ... and, until the field is confirmed, the line recogniser's own reading
# where post-correction changed it (``fields.alternative``, schema 5 on): a
# search finds what was written even when a correction guessed wrong. RAW_MARK
# (punctuation: no word, in neither index's terms) stands between the two, so a
# snippet shows which is which (schema 11 on; ``shown_body``).
RAW_MARK = "\u2016"
SEARCH_BODY_WITH_RAW_SQL = ("(coalesce(" + SEARCH_BODY_SQL + ", '') || CASE WHEN {row}.status <> 'confirmed' "
                            "AND {row}.kind IN ('line', 'text') AND {row}.alternative IS NOT NULL "
                            f"THEN ' {RAW_MARK} ' || {{row}}.alternative ELSE '' END)")


def shown_body(text: str) -> str:
    """Indexed text (a snippet of it) as a person reads it: the raw reading named as such."""
    return text.replace(f" {RAW_MARK} ", " \u2014 machine reading: ").replace(RAW_MARK, "\u2014")

TAG_MARK = 0xE000      # + kind: 1 client, 2 field key, 3 privacy, 4 year, 5 month, 6 day
TAG_DIGIT = 0xE100     # two digits in base TAG_BASE follow the mark
TAG_BASE = 6144


def _tag_sql(kind: int, number: str) -> str:
    return f"char({TAG_MARK + kind}, {TAG_DIGIT} + ({number}) / {TAG_BASE}, {TAG_DIGIT} + ({number}) % {TAG_BASE})"


_DAY = "substr(s.date, 1, 10)"
SEARCH_TAGS_SQL = f"""(SELECT ' ' || {_tag_sql(1, "coalesce((SELECT id FROM search_terms WHERE kind = 'client' "
                                           "AND value = lower(s.client)), 0)")}
    || ' ' || {_tag_sql(2, "coalesce((SELECT id FROM search_terms WHERE kind = 'key' AND value = {row}.key), 0)")}
    || ' ' || {_tag_sql(3, "CASE {row}.privacy WHEN 'private' THEN 1 ELSE 2 END")}
    || CASE WHEN julianday({_DAY}) IS NOT NULL AND s.date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'
       THEN ' ' || {_tag_sql(4, "CAST(substr(s.date, 1, 4) AS INTEGER)")}
         || ' ' || {_tag_sql(5, "CAST(substr(s.date, 1, 4) AS INTEGER) * 12 + CAST(substr(s.date, 6, 2) AS INTEGER) - 1")}
         || ' ' || {_tag_sql(6, f"CAST(julianday({_DAY}) AS INTEGER) - 2400000")} ELSE '' END || ' '
    FROM sheets s WHERE s.sheet_id = {{row}}.sheet_id)"""

# Number a field's key and its sheet's client before its tags are made.
_TERMS_SQL = """INSERT OR IGNORE INTO search_terms(kind, value) VALUES ('key', {row}.key);
            INSERT OR IGNORE INTO search_terms(kind, value)
                SELECT 'client', lower(client) FROM sheets WHERE sheet_id = {row}.sheet_id AND client IS NOT NULL;"""

SEARCH_INDEX_OBJECTS = (
    ("trigger", "fields_search_insert"),
    ("trigger", "fields_search_update"),
    ("trigger", "fields_search_delete"),
    ("trigger", "sheets_search_update"),
    ("trigger", "search_docs_insert"),
    ("trigger", "search_docs_delete"),
    ("trigger", "search_docs_update"),
    ("table", "search_words"),
    ("table", "search_trigrams"),
    ("table", "search_vocab"),
    ("table", "search_docs"),
    ("table", "search_terms"),
)


# Label words of tick options per template (label_rows, kept by scanner.vault.store.save_labels and a reindex).
LABELS_DDL = """
        CREATE TABLE IF NOT EXISTS search_labels (
            template TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,             -- option value; 'yes' for a checkbox
            words TEXT NOT NULL,
            PRIMARY KEY (template, key, value)
        );
"""


def rebuild_script() -> str:
    """Statements that drop the whole search index and create it again, filled from ``fields`` (migrations, reindex)."""
    drops = "".join(f"DROP {kind.upper()} IF EXISTS {name};\n" for kind, name in SEARCH_INDEX_OBJECTS)
    return drops + search_index_ddl()


def search_index_ddl(with_raw: bool = True) -> str:
    """The statements that create the search index, its triggers, and fill it from ``fields``.

    ``with_raw=False`` is the index before schema 7 (no raw readings), for the
    migration steps that ran before ``fields.alternative`` existed.
    """
    body_sql = SEARCH_BODY_WITH_RAW_SQL if with_raw else SEARCH_BODY_SQL
    new_doc = (f"SELECT new.id, b, t FROM (SELECT {body_sql.format(row='new')} AS b, "
               f"{SEARCH_TAGS_SQL.format(row='new')} AS t) WHERE trim(b) <> ''")
    return LABELS_DDL + f"""
        CREATE TABLE IF NOT EXISTS search_terms (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,              -- client | key
            value TEXT NOT NULL,
            UNIQUE(kind, value)
        );
        CREATE TABLE IF NOT EXISTS search_docs (
            id INTEGER PRIMARY KEY,          -- fields.id
            body TEXT NOT NULL,
            tags TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE IF NOT EXISTS search_words USING fts5(
            body, tags, content='search_docs', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE IF NOT EXISTS search_trigrams USING fts5(
            body, tags, content='search_docs', content_rowid='id', tokenize='trigram remove_diacritics 1');
        -- The vault's own vocabulary, for OCR-tolerant (fuzzy) term expansion.
        CREATE VIRTUAL TABLE IF NOT EXISTS search_vocab USING fts5vocab(search_words, 'col');

        CREATE TRIGGER IF NOT EXISTS search_docs_insert AFTER INSERT ON search_docs BEGIN
            INSERT INTO search_words(rowid, body, tags) VALUES (new.id, new.body, new.tags);
            INSERT INTO search_trigrams(rowid, body, tags) VALUES (new.id, new.body, new.tags);
        END;
        CREATE TRIGGER IF NOT EXISTS search_docs_delete AFTER DELETE ON search_docs BEGIN
            INSERT INTO search_words(search_words, rowid, body, tags) VALUES ('delete', old.id, old.body, old.tags);
            INSERT INTO search_trigrams(search_trigrams, rowid, body, tags)
                VALUES ('delete', old.id, old.body, old.tags);
        END;
        CREATE TRIGGER IF NOT EXISTS search_docs_update AFTER UPDATE ON search_docs BEGIN
            INSERT INTO search_words(search_words, rowid, body, tags) VALUES ('delete', old.id, old.body, old.tags);
            INSERT INTO search_trigrams(search_trigrams, rowid, body, tags)
                VALUES ('delete', old.id, old.body, old.tags);
            INSERT INTO search_words(rowid, body, tags) VALUES (new.id, new.body, new.tags);
            INSERT INTO search_trigrams(rowid, body, tags) VALUES (new.id, new.body, new.tags);
        END;

        CREATE TRIGGER IF NOT EXISTS fields_search_insert AFTER INSERT ON fields BEGIN
            {_TERMS_SQL.format(row="new")}
            INSERT INTO search_docs(id, body, tags) {new_doc};
        END;
        CREATE TRIGGER IF NOT EXISTS fields_search_update
        AFTER UPDATE OF sheet_id, key, kind, privacy, value, status, confirmed_value{", alternative" if with_raw else ""}
        ON fields BEGIN
            DELETE FROM search_docs WHERE id = old.id;
            {_TERMS_SQL.format(row="new")}
            INSERT INTO search_docs(id, body, tags) {new_doc};
        END;
        CREATE TRIGGER IF NOT EXISTS fields_search_delete AFTER DELETE ON fields BEGIN
            DELETE FROM search_docs WHERE id = old.id;
        END;
        -- A sheet's client or date can be filled in later (a blank sheet assigned in review).
        CREATE TRIGGER IF NOT EXISTS sheets_search_update AFTER UPDATE OF client, date ON sheets BEGIN
            INSERT OR IGNORE INTO search_terms(kind, value)
                SELECT 'client', lower(new.client) WHERE new.client IS NOT NULL;
            UPDATE search_docs SET tags = (SELECT {SEARCH_TAGS_SQL.format(row='f')} FROM fields f
                                           WHERE f.id = search_docs.id)
                WHERE id IN (SELECT id FROM fields WHERE sheet_id = new.sheet_id);
        END;

        INSERT OR IGNORE INTO search_terms(kind, value) SELECT DISTINCT 'key', key FROM fields;
        INSERT OR IGNORE INTO search_terms(kind, value)
            SELECT DISTINCT 'client', lower(client) FROM sheets WHERE client IS NOT NULL;
        INSERT OR IGNORE INTO search_docs(id, body, tags)
            SELECT id, b, t FROM (SELECT f.id AS id, {body_sql.format(row="f")} AS b,
                                         {SEARCH_TAGS_SQL.format(row="f")} AS t FROM fields f)
            WHERE trim(b) <> '';
    """


def label_rows(template) -> list[tuple[str, str, str, str]]:
    """(template, key, option value, words) for the tick answers a search should know by their label.

    A risk-screen answer gives its field's label ("Suicidal ideation", and the
    option's label where it differs from its value); a checkbox its label,
    under the value 'yes'; another choice option its own label where that
    differs from its value (its value is indexed already). A "none" answer has
    no words: it must not be found by "suicidal". Other field labels are left
    out on purpose: "Mood, reported" on every session would only add noise.
    """
    out = []
    for f in template.fields:
        label = " ".join((f.label or "").split())
        if f.kind == "checkbox":
            out.append((template.name, f.key, "yes", label))
        elif f.kind == "choice":
            risky = is_risk_field(f)
            for o in f.options or ():
                if str(o.value).strip().lower() == "none":
                    continue
                own = str(o.label or o.value)
                words = " ".join(w for w in (label if risky else "", own if own != str(o.value) else "") if w)
                if words:
                    out.append((template.name, f.key, str(o.value), words))
    return out
