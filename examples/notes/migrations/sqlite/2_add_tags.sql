-- Tags are optional: the previous release neither reads nor writes them.
ALTER TABLE notes ADD COLUMN tags TEXT;
