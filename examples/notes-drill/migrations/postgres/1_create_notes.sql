-- opskit: expand
-- reason: a new table; nothing older reads it
-- An identity column: writers never wait for each other to get an id.
CREATE TABLE notes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
