-- When the login that started a token's family happened: every rotation copies it, so a family
-- has an absolute lifetime (REFRESH_FAMILY_MAX_AGE) however often it is refreshed. Existing
-- families count from their oldest token still stored.
ALTER TABLE refresh_tokens ADD COLUMN family_created_at timestamptz NOT NULL DEFAULT now();
UPDATE refresh_tokens r
   SET family_created_at = f.started
  FROM (SELECT family_id, min(created_at) AS started FROM refresh_tokens GROUP BY family_id) f
 WHERE r.family_id = f.family_id;
