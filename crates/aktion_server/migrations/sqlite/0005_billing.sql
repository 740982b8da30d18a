-- Billing through Stripe (PRODUCT.md §5.6) (SQLite).
-- A refund or dispute takes credits back as a 'clawback' entry (what the balance cannot cover is
-- recorded as users.debt). SQLite cannot change a CHECK constraint: the table is rebuilt.
CREATE TABLE ledger_entries_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release', 'clawback')),
    delta INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reservation_id INTEGER REFERENCES reservations (id),
    op_key TEXT,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, op_key)
);
INSERT INTO ledger_entries_new SELECT id, user_id, kind, delta, amount, balance_after,
    reservation_id, op_key, reason, created_at FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
CREATE INDEX ledger_user ON ledger_entries (user_id, id);

-- The Stripe customer of each account (made at its first checkout).
CREATE TABLE billing_customers (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    customer_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Every verified webhook event, once by id. applied_at stays NULL while an event waits for
-- the one it depends on (a refund before its checkout, in Stripe's delivery order).
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    applied_at INTEGER,
    note TEXT
);
CREATE INDEX stripe_events_waiting ON stripe_events (applied_at);

-- What was bought: a credit pack (a Checkout session) or a membership period (an invoice).
-- Amounts in the currency's minor unit.
CREATE TABLE purchases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('pack', 'membership')),
    checkout_session TEXT UNIQUE,
    invoice TEXT UNIQUE,
    payment_intent TEXT,
    credits INTEGER NOT NULL CHECK (credits >= 0),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    credits_taken_back INTEGER NOT NULL DEFAULT 0,
    disputed INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX purchases_payment_intent ON purchases (payment_intent);
CREATE INDEX purchases_user ON purchases (user_id, id);
CREATE INDEX purchases_created ON purchases (created_at);

-- The account's membership as the latest applied subscription event says.
CREATE TABLE memberships (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    subscription_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    current_period_end INTEGER,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    discounted INTEGER NOT NULL DEFAULT 0,
    event_created INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
