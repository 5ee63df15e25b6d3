-- Quota queue items (docs/queues.md): one row per item, written as the item changes (enqueued, leased, failed,
-- dead-lettered, requeued) and deleted when acknowledged; never the whole queue rewritten. The queue grain loads its
-- rows when it activates.
CREATE TABLE IF NOT EXISTS quota_queue_items
(
    -- The queue's name and the item's id (the caller's idempotency id, or a generated one).
    queue          text        NOT NULL,
    id             text        NOT NULL,
    -- Enqueue order within the queue: hand-out is by priority, then this.
    seq            bigint      NOT NULL,
    -- The payload's JSON text exactly as sent, and the attributes as a JSON object.
    payload        text        NOT NULL,
    attributes     text        NOT NULL,
    -- 0 low, 1 normal, 2 high, 3 critical.
    priority       smallint    NOT NULL,
    enqueued_at    timestamptz NOT NULL,
    -- Not handed out before this (not-before, or a retry's backoff).
    available_at   timestamptz NOT NULL,
    deadline       timestamptz NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    -- 0 waiting, 1 leased, 2 dead.
    state          smallint    NOT NULL,
    lease_id       text        NULL,
    leased_at      timestamptz NULL,
    visible_until  timestamptz NULL,
    token_upstream text        NULL,
    token_id       text        NULL,
    last_error     text        NULL,
    last_status    integer     NULL,
    died_at        timestamptz NULL,
    CONSTRAINT quota_queue_items_pk PRIMARY KEY (queue, id)
);
