-- Quota usage history: decisions aggregated per subject per minute, for reporting (GET /v1/usage/{kind}/{id}?from=&to=).
-- Silos add to a row with INSERT ... ON CONFLICT DO UPDATE in batches, off the decision path.
CREATE TABLE IF NOT EXISTS quota_usage_minute
(
    -- The subject's label, e.g. 'user:alice', 'key:3f2a…', 'resource:telegram'.
    subject  text        NOT NULL,
    -- The UTC minute the decisions fall in (seconds are zero).
    minute   timestamptz NOT NULL,
    -- Requests admitted and denied at this subject in that minute.
    allowed  bigint      NOT NULL DEFAULT 0,
    denied   bigint      NOT NULL DEFAULT 0,
    -- Permits the admitted requests took (their cost).
    permits  bigint      NOT NULL DEFAULT 0,
    CONSTRAINT quota_usage_minute_pk PRIMARY KEY (subject, minute)
);
