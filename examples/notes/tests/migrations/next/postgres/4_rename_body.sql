-- opskit: contract
-- reason: the next release calls the note text "content"; releases before it read "body"
ALTER TABLE notes RENAME COLUMN body TO content;
