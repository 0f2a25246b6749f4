-- sqlite3: a table filled by a recursive CTE, an index built, queries.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t SELECT x, 'name-' || (x * 7919 % 60000), x % 100, (x * 31 % 1000) / 10.0 FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_score ON t(grp, score);
SELECT count(*), sum(score) FROM t WHERE grp BETWEEN 10 AND 20;
SELECT name FROM t WHERE name LIKE 'name-12%' ORDER BY name LIMIT 3;
