-- Accounts, refresh-token families and password resets of the auth domain.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    -- Normalised (trimmed, lower-cased) by the application before it gets here.
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    name          text,
    role          text        NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Set when an admin deletes the user (the user.deleted event); such a user cannot log in.
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Refresh tokens are stored as SHA-256 hashes only. Every login starts a family; each refresh
-- marks its token used and adds the next one to the family. Presenting a used token revokes
-- the whole family (reuse detection).
CREATE TABLE refresh_tokens (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid        NOT NULL,
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

-- Single-use password reset tokens, stored as SHA-256 hashes.
CREATE TABLE password_resets (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE UNIQUE INDEX password_resets_token_hash_key ON password_resets (token_hash);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);
