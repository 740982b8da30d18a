-- The account lifecycle (PRODUCT.md §5.8) and the email outbox (§5.7) (SQLite).
-- Accounts made before verification existed count as verified.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;
-- Credits promised at registration, paid when the address is verified.
ALTER TABLE users ADD COLUMN starter_grant_due INTEGER NOT NULL DEFAULT 0 CHECK (starter_grant_due >= 0);
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Credits a refund or dispute could not take back (the balance never goes below zero); while
-- above zero, new reservations are refused.
ALTER TABLE users ADD COLUMN debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0);
-- A deleted account keeps its row (the ledger refers to it) without personal data.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
-- Optional mails: "generation finished" when asked for; unsubscribing stops every optional mail.
ALTER TABLE users ADD COLUMN notify_generation_finished INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mail_unsubscribed_at INTEGER;

-- Single-use tokens of mailed links, stored hashed.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset', 'unsubscribe')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- Mails to send, written in the transaction of what caused them; the worker claims rows for a
-- while (claimed_by/claimed_until), so one instance delivers each.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    unsubscribe_url TEXT,
    dedupe_key TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    sent_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, failed_at, next_attempt_at);

-- Beta sign-ups an admin invited (AKTION_INVITE_ONLY=1: only they may register).
ALTER TABLE beta_signups ADD COLUMN invited_at INTEGER;

-- "Report a problem" from the app (PRODUCT.md §5.10): what the user saw sent, nothing else.
CREATE TABLE problem_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    node_kind TEXT NOT NULL,
    route TEXT NOT NULL,
    provider TEXT,
    error TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX problem_reports_created ON problem_reports (created_at);
