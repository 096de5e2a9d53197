-- opskit: expand
-- reason: a new table; nothing older reads it
CREATE TABLE notes (
    id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
