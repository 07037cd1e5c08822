-- Profiles of the user domain: one per account, created from the `user.registered` event (or
-- from the owner's token on a first read that beats the event), soft-deleted by an admin.

-- Trigram indexes make the admin list's `q` (a substring search) index-backed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE profiles (
    id         uuid        PRIMARY KEY,
    -- The account's id in the auth domain (the token's `sub`/`userId`); one profile per account,
    -- which is what makes concurrent first reads and redelivered events converge on one row.
    user_id    uuid        NOT NULL,
    email      text        NOT NULL,
    name       text        NULL,
    bio        text        NULL,
    avatar     text        NULL,
    role       text        NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Set when an admin deletes the user; such a profile is never shown nor recreated.
    deleted_at timestamptz NULL,
    CONSTRAINT profiles_user_id_key UNIQUE (user_id)
);

-- The admin list: live profiles, newest first (the id breaks ties so pages are stable).
CREATE INDEX profiles_live_created_idx ON profiles (created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- `q`: `lower(name) LIKE lower('%q%') OR lower(email) LIKE ...` over live profiles; one index
-- per column so a match never spans the boundary between name and e-mail.
CREATE INDEX profiles_name_trgm_idx ON profiles USING gin (lower(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX profiles_email_trgm_idx ON profiles USING gin (lower(email) gin_trgm_ops)
    WHERE deleted_at IS NULL;
