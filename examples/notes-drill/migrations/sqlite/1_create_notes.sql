-- opskit: expand
-- reason: a new table; nothing older reads it
-- AUTOINCREMENT: an id is never handed out twice, even after the newest note is deleted.
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
