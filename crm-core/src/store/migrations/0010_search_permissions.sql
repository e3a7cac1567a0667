-- Schema version 10: the search index carries each client's permission terms (`o<owner>
-- d<department>`, `open`) in a column of its own, so a narrow read plan is intersected inside
-- the index (a rep's own records: 6 ms -> well under 1 ms for a common word at 1M clients).
-- It keeps no copy of the text (contentless, deletable: results are read from `clients`) and
-- only column-level detail (searches are prefix terms, never phrases), which makes it about a
-- third of the size. The documents are rewritten by the data step of this migration.

DROP TABLE client_fts;
CREATE VIRTUAL TABLE client_fts USING fts5 (
    name, emails, phones, ids, acl,
    content = '',
    contentless_delete = 1,
    detail = column,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
