-- The account lifecycle (PRODUCT.md §5.8) and the email outbox (§5.7) (PostgreSQL).
-- Accounts made before verification existed count as verified.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = created_at;
-- Credits promised at registration, paid when the address is verified.
ALTER TABLE users ADD COLUMN starter_grant_due BIGINT NOT NULL DEFAULT 0 CHECK (starter_grant_due >= 0);
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- Credits a refund or dispute could not take back (the balance never goes below zero); while
-- above zero, new reservations are refused.
ALTER TABLE users ADD COLUMN debt BIGINT NOT NULL DEFAULT 0 CHECK (debt >= 0);
-- A deleted account keeps its row (the ledger refers to it) without personal data.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
-- Optional mails: "generation finished" when asked for; unsubscribing stops every optional mail.
ALTER TABLE users ADD COLUMN notify_generation_finished BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mail_unsubscribed_at BIGINT;

-- Single-use tokens of mailed links, stored hashed.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset', 'unsubscribe')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- Mails to send, written in the transaction of what caused them; the worker claims rows for a
-- while (claimed_by/claimed_until), so one instance delivers each.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    unsubscribe_url TEXT,
    dedupe_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    sent_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, failed_at, next_attempt_at);

-- Beta sign-ups an admin invited (AKTION_INVITE_ONLY=1: only they may register).
ALTER TABLE beta_signups ADD COLUMN invited_at BIGINT;

-- "Report a problem" from the app (PRODUCT.md §5.10): what the user saw sent, nothing else.
CREATE TABLE problem_reports (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    node_kind TEXT NOT NULL,
    route TEXT NOT NULL,
    provider TEXT,
    error TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX problem_reports_created ON problem_reports (created_at);
