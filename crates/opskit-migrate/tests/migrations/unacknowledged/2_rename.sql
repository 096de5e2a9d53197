ALTER TABLE notes RENAME COLUMN title TO heading;
CREATE INDEX notes_heading ON notes (heading);
