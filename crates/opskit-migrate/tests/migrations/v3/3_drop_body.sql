-- opskit: contract
-- reason: release 3 stores note text in tags; releases before it still read body
ALTER TABLE notes DROP COLUMN body;
