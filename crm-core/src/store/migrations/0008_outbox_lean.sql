-- Schema version 8: the outbox is read in id order from a consumer's cursor, so an index on the
-- event type only costs every write (one B-tree insert per change) without serving a read.

DROP INDEX outbox_type;
