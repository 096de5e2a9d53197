-- opskit: contract
-- reason: every note has tags from this release on ("" for none); release N-1 writes notes without them, which this refuses
-- SQLite adds a constraint by rebuilding the table, in the migration's transaction:
-- copy (rows without tags get ""), drop, rename. This release runs with or without
-- it, so NOTES_MIGRATE=expand holds it back until N-1 is gone.
CREATE TABLE notes_tagged (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL
);
INSERT INTO notes_tagged (id, title, body, tags)
    SELECT id, title, body, COALESCE(tags, '') FROM notes;
-- Keep AUTOINCREMENT's high-water mark: an id is never handed out twice.
UPDATE sqlite_sequence
    SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'notes')
    WHERE name = 'notes_tagged';
DROP TABLE notes;
ALTER TABLE notes_tagged RENAME TO notes;
