-- Two tables, with a COMMIT between them that would end the guard's transaction.
CREATE TABLE t1 (id INTEGER);
COMMIT;
CREATE TABLE t2 (id INTEGER);
SELECT 1/0;
