-- no-transaction
-- opskit: expand
-- reason: a new table, filled in batches that commit one by one
CREATE TABLE audit (id INTEGER PRIMARY KEY);
COMMIT;
INSERT INTO audit VALUES (1);
