-- Tags are optional: older binaries never read or write them.
ALTER TABLE notes ADD COLUMN tags TEXT;
INSERT INTO notes (id, title, body, tags) VALUES (1000, 'seeded by migration 2', 'x', 'seed');
