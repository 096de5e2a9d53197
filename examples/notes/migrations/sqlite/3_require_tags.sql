-- opskit: contract
-- reason: every note has tags from this release on ("" for none); release N-1 writes notes without them, which this refuses
-- SQLite cannot add a constraint to a table; a trigger refuses the same writes, and
-- rows written before it (NULL tags) stay as they are, as on PostgreSQL. This
-- release runs with or without it, so NOTES_MIGRATE=expand holds it back until
-- N-1 is gone.
CREATE TRIGGER notes_tags_required BEFORE INSERT ON notes
FOR EACH ROW WHEN NEW.tags IS NULL
BEGIN
    SELECT RAISE(ABORT, 'notes.tags is required (a release older than this schema wrote this note)');
END;
