-- Blobs, generations, training-data records, beta sign-ups, login limits and server secrets (PostgreSQL).
-- Blob bytes live in the object store under keys derived from their BLAKE3 hash; these rows say
-- who may read which blob.
CREATE TABLE blobs (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    content_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX blobs_hash ON blobs (hash);

CREATE TABLE generations (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'submitting', 'running', 'succeeded', 'failed', 'cancelled')),
    progress_permille BIGINT,
    message TEXT,
    credits BIGINT NOT NULL CHECK (credits >= 0),
    reservation_id BIGINT REFERENCES reservations (id),
    provider_job TEXT,
    outputs TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    op_key TEXT,
    -- The instance driving it, and until when it holds it.
    worker TEXT,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    UNIQUE (user_id, op_key)
);
CREATE INDEX generations_user ON generations (user_id, created_at);
CREATE INDEX generations_active ON generations (state, lease_until);
CREATE INDEX generations_worker ON generations (worker, state);
CREATE INDEX generations_reservation ON generations (reservation_id);

CREATE TABLE training_records (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation_id TEXT UNIQUE REFERENCES generations (id),
    node_kind TEXT NOT NULL,
    output_type TEXT NOT NULL,
    prompt TEXT,
    settings TEXT NOT NULL,
    character_refs TEXT NOT NULL,
    input_refs TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    output_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    generation_ms BIGINT,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    created_at BIGINT NOT NULL
);
CREATE INDEX training_user ON training_records (user_id, id);
CREATE INDEX training_kind ON training_records (node_kind, output_type);

CREATE TABLE beta_signups (
    email_key TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Failed logins per hashed email or IP, shared by every instance.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
