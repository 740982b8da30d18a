-- Billing through Stripe (PRODUCT.md §5.6) (PostgreSQL).
-- A refund or dispute takes credits back as a 'clawback' entry (what the balance cannot cover is
-- recorded as users.debt).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('grant', 'reserve', 'charge', 'release', 'clawback'));

-- The Stripe customer of each account (made at its first checkout).
CREATE TABLE billing_customers (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    customer_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Every verified webhook event, once by id. applied_at stays NULL while an event waits for
-- the one it depends on (a refund before its checkout, in Stripe's delivery order).
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    applied_at BIGINT,
    note TEXT
);
CREATE INDEX stripe_events_waiting ON stripe_events (applied_at);

-- What was bought: a credit pack (a Checkout session) or a membership period (an invoice).
-- Amounts in the currency's minor unit.
CREATE TABLE purchases (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('pack', 'membership')),
    checkout_session TEXT UNIQUE,
    invoice TEXT UNIQUE,
    payment_intent TEXT,
    credits BIGINT NOT NULL CHECK (credits >= 0),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    credits_taken_back BIGINT NOT NULL DEFAULT 0,
    disputed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX purchases_payment_intent ON purchases (payment_intent);
CREATE INDEX purchases_user ON purchases (user_id, id);
CREATE INDEX purchases_created ON purchases (created_at);

-- The account's membership as the latest applied subscription event says.
CREATE TABLE memberships (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    subscription_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    current_period_end BIGINT,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    discounted BIGINT NOT NULL DEFAULT 0,
    event_created BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
