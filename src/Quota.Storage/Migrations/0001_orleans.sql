-- =====================================================================================================================
-- 0001_orleans.sql: Quota's own PostgreSQL schema for the Orleans ADO.NET providers
-- =====================================================================================================================
--
-- Quota runs Microsoft.Orleans.Clustering.AdoNet, Microsoft.Orleans.Persistence.AdoNet and
-- Microsoft.Orleans.Reminders.AdoNet (10.4.2) over Npgsql (invariant "Npgsql"). Those providers ship no SQL of their
-- own that we use: at start-up they run
--
--     SELECT QueryKey, QueryText FROM OrleansQuery
--
-- and from then on execute the text stored under each key, with Npgsql named parameters (@DeploymentId, ...). This
-- file is written by us, to the providers' contract (query keys, parameter names and types, result columns, how a
-- version/etag conflict is reported); it is not a copy of the upstream Orleans scripts, and its tables are laid out
-- our own way. The contract, key by key, is in README.md next to this file.
--
-- Rules this file keeps:
--   * Idempotent: safe to run again (CREATE ... IF NOT EXISTS; query texts are upserted, so re-running also
--     updates a query's text).
--   * One transaction: the migration runner wraps the whole file; nothing here may run outside a transaction
--     (no CREATE INDEX CONCURRENTLY) and there is no BEGIN/COMMIT in the file.
--   * Quoting: OrleansQuery and its columns are created UNQUOTED, because the providers query them unquoted
--     (PostgreSQL folds the names to lower case; Npgsql then finds "QueryKey" by a case-insensitive fallback).
--     Every result column the providers read by name is aliased with its exact, quoted name ("Version", ...).
--   * Parameters: the providers set DbType on every parameter, so Npgsql sends them typed: strings as text,
--     int as integer, long as bigint, byte[] as bytea, DateTime (DbType.DateTime) as timestamptz, which is why
--     every time column is timestamptz. Each parameter is still CAST to the column's type in the query text so that
--     no statement depends on type inference.
--   * Query texts hold one statement each (ending in the only semicolon) and no comments, so that Npgsql's
--     parameter rewriting has nothing to trip over. Comments about each query are above its INSERT.
--
-- Uses nothing newer than PostgreSQL 9.5 (ON CONFLICT, data-modifying CTEs); verified on PostgreSQL 15.
-- =====================================================================================================================


-- Several silos may start, and migrate, at once; CREATE TABLE IF NOT EXISTS is not safe against a concurrent CREATE of
-- the same table, so concurrent runs of this file queue here. Transaction-scoped: released when the runner commits.
-- The key is "QUOTA" in ASCII.
SELECT pg_advisory_xact_lock(349323613249);


-- ---------------------------------------------------------------------------------------------------------------------
-- OrleansQuery: query key -> query text, read by every provider at start-up. Name and columns fixed by the providers.
-- ---------------------------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) NOT NULL PRIMARY KEY,
    QueryText text        NOT NULL
);


-- =====================================================================================================================
-- Clustering (membership)
-- =====================================================================================================================

-- One row per cluster (the providers call the cluster id "DeploymentId"). "version" is the membership table's
-- version: every membership insert/update must present the current value and moves it on by one, which is how
-- Orleans' membership protocol detects concurrent writers. The providers use its decimal text as the etag.
CREATE TABLE IF NOT EXISTS orleans_membership_version
(
    deployment_id text        NOT NULL PRIMARY KEY,
    version       integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per silo incarnation (address, port, generation) of a cluster. status is Orleans' SiloStatus
-- (3 = Active, 6 = Dead); suspect_times is the provider's own "silo,date|silo,date" text.
CREATE TABLE IF NOT EXISTS orleans_membership
(
    deployment_id   text        NOT NULL REFERENCES orleans_membership_version (deployment_id) ON DELETE CASCADE,
    address         text        NOT NULL,
    port            integer     NOT NULL,
    generation      integer     NOT NULL,
    silo_name       text        NOT NULL,
    host_name       text        NOT NULL,
    status          integer     NOT NULL,
    proxy_port      integer     NOT NULL,
    suspect_times   text        NULL,
    start_time      timestamptz NOT NULL,
    i_am_alive_time timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);


-- =====================================================================================================================
-- Grain storage (persistence)
-- =====================================================================================================================

-- One row per (service, state name, grain). The natural key is the state name ("GrainTypeString") and the grain id as
-- the provider splits it: two 64-bit halves (GrainIdN0/N1; the integer or Guid key, 0/0 for string keys) and an
-- optional string (GrainIdExtensionString: the whole key for string-keyed grains, the key extension otherwise, NULL
-- when there is none). NULL and '' are different extensions, so the extension is stored as NOT NULL text plus a
-- flag, which keeps the unique key exact and every lookup an index equality.
-- payload holds the serialized state (Quota: System.Text.Json bytes); NULL after a clear. version is the etag:
-- 1 on first write, moved on by one per write or clear (wrapping from 2147483647 back to 1, since the provider parses
-- etags as int). The two hashes are the provider's and are kept for diagnostics only; nothing looks rows up by them.
CREATE TABLE IF NOT EXISTS orleans_storage
(
    service_id             text        NOT NULL,
    grain_type             text        NOT NULL,
    grain_id_n0            bigint      NOT NULL,
    grain_id_n1            bigint      NOT NULL,
    grain_id_extension     text        NOT NULL,
    grain_id_has_extension boolean     NOT NULL,
    grain_type_hash        integer     NOT NULL,
    grain_id_hash          integer     NOT NULL,
    payload                bytea       NULL,
    version                integer     NOT NULL,
    modified_at            timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS orleans_storage_grain
    ON orleans_storage (service_id, grain_type, grain_id_n0, grain_id_n1, grain_id_extension, grain_id_has_extension);


-- =====================================================================================================================
-- Reminders
-- =====================================================================================================================

-- One row per (service, grain, reminder name). grain_hash is the grain's uniform hash as the provider passes it:
-- the uint cast to a signed int, so range queries compare in signed order (see ReadRangeRows1Key/2Key).
-- period_ms is the period in milliseconds (bigint: the provider passes an int or, above int range, a long).
-- version is the etag (0 on insert, +1 per upsert).
CREATE TABLE IF NOT EXISTS orleans_reminders
(
    service_id    text        NOT NULL,
    grain_id      text        NOT NULL,
    reminder_name text        NOT NULL,
    start_time    timestamptz NOT NULL,
    period_ms     bigint      NOT NULL,
    grain_hash    integer     NOT NULL,
    version       integer     NOT NULL,
    PRIMARY KEY (service_id, grain_id, reminder_name)
);

CREATE INDEX IF NOT EXISTS orleans_reminders_hash
    ON orleans_reminders (service_id, grain_hash);


-- =====================================================================================================================
-- Query texts
-- =====================================================================================================================

-- ---- Clustering ------------------------------------------------------------------------------------------------------

-- InsertMembershipVersionKey (@DeploymentId): create the cluster's version row (version 0) unless it exists.
-- Returns one row, one column: true if this call created it.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO orleans_membership_version (deployment_id, version)
    VALUES (CAST(@DeploymentId AS text), 0)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM created) AS "Created";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- InsertMembershipKey: add a silo row, but only if @Version is still the cluster's version and the silo is not
-- there yet; both happen or neither (the version row is updated first and the insert is fed from it, so a stale
-- version inserts nothing). Returns one row, one column: true if the silo row was inserted.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipKey', $q$
WITH bumped AS (
    UPDATE orleans_membership_version AS v
    SET version = v.version + 1,
        updated_at = now()
    WHERE v.deployment_id = CAST(@DeploymentId AS text)
      AND v.version = CAST(@Version AS integer)
      AND NOT EXISTS (
          SELECT 1
          FROM orleans_membership AS e
          WHERE e.deployment_id = CAST(@DeploymentId AS text)
            AND e.address = CAST(@Address AS text)
            AND e.port = CAST(@Port AS integer)
            AND e.generation = CAST(@Generation AS integer))
    RETURNING v.deployment_id
),
inserted AS (
    INSERT INTO orleans_membership
        (deployment_id, address, port, generation, silo_name, host_name, status, proxy_port,
         suspect_times, start_time, i_am_alive_time)
    SELECT b.deployment_id,
           CAST(@Address AS text),
           CAST(@Port AS integer),
           CAST(@Generation AS integer),
           COALESCE(CAST(@SiloName AS text), ''),
           COALESCE(CAST(@HostName AS text), ''),
           CAST(@Status AS integer),
           CAST(@ProxyPort AS integer),
           NULL,
           CAST(@StartTime AS timestamptz),
           CAST(@IAmAliveTime AS timestamptz)
    FROM bumped AS b
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM inserted) AS "Inserted";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- UpdateMembershipKey: change a silo row's status, suspect times and I-am-alive time, only if @Version is still the
-- cluster's version and the row exists; the version moves on by one with it. Returns one row, one column: true if
-- the silo row was updated.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateMembershipKey', $q$
WITH bumped AS (
    UPDATE orleans_membership_version AS v
    SET version = v.version + 1,
        updated_at = now()
    WHERE v.deployment_id = CAST(@DeploymentId AS text)
      AND v.version = CAST(@Version AS integer)
      AND EXISTS (
          SELECT 1
          FROM orleans_membership AS e
          WHERE e.deployment_id = CAST(@DeploymentId AS text)
            AND e.address = CAST(@Address AS text)
            AND e.port = CAST(@Port AS integer)
            AND e.generation = CAST(@Generation AS integer))
    RETURNING v.deployment_id
),
updated AS (
    UPDATE orleans_membership AS m
    SET status = CAST(@Status AS integer),
        suspect_times = CAST(@SuspectTimes AS text),
        i_am_alive_time = CAST(@IAmAliveTime AS timestamptz)
    FROM bumped AS b
    WHERE m.deployment_id = b.deployment_id
      AND m.address = CAST(@Address AS text)
      AND m.port = CAST(@Port AS integer)
      AND m.generation = CAST(@Generation AS integer)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM updated) AS "Updated";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- UpdateIAmAlivetimeKey: a silo's heartbeat. Not versioned; no result is read.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateIAmAlivetimeKey', $q$
UPDATE orleans_membership
SET i_am_alive_time = CAST(@IAmAliveTime AS timestamptz)
WHERE deployment_id = CAST(@DeploymentId AS text)
  AND address = CAST(@Address AS text)
  AND port = CAST(@Port AS integer)
  AND generation = CAST(@Generation AS integer);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- MembershipReadRowKey: the cluster's version and one silo's row. The version row drives the query, so it comes back
-- (with NULL silo columns) even when the silo has no row; the provider treats NULL "StartTime" as "no silo" and
-- fails on an empty result, which only happens if the cluster has no version row at all.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadRowKey', $q$
SELECT v.deployment_id   AS "DeploymentId",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime",
       v.version         AS "Version"
FROM orleans_membership_version AS v
LEFT JOIN orleans_membership AS m
       ON m.deployment_id = v.deployment_id
      AND m.address = CAST(@Address AS text)
      AND m.port = CAST(@Port AS integer)
      AND m.generation = CAST(@Generation AS integer)
WHERE v.deployment_id = CAST(@DeploymentId AS text);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- MembershipReadAllKey: the cluster's version and all its silo rows, read in one statement (one snapshot), so the
-- version always matches the rows. One row with NULL silo columns when the cluster has no silos.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadAllKey', $q$
SELECT v.deployment_id   AS "DeploymentId",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime",
       v.version         AS "Version"
FROM orleans_membership_version AS v
LEFT JOIN orleans_membership AS m
       ON m.deployment_id = v.deployment_id
WHERE v.deployment_id = CAST(@DeploymentId AS text)
ORDER BY m.address, m.port, m.generation;
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- GatewaysQueryKey: gateways clients may connect to: silos of the cluster in @Status (the provider passes Active)
-- that have a gateway port.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('GatewaysQueryKey', $q$
SELECT address    AS "Address",
       proxy_port AS "ProxyPort",
       generation AS "Generation"
FROM orleans_membership
WHERE deployment_id = CAST(@DeploymentId AS text)
  AND status = CAST(@Status AS integer)
  AND proxy_port > 0;
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- DeleteMembershipTableEntriesKey: forget a cluster: its version row and, by the cascading foreign key, its silo rows.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteMembershipTableEntriesKey', $q$
DELETE FROM orleans_membership_version
WHERE deployment_id = CAST(@DeploymentId AS text);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- CleanupDefunctSiloEntriesKey (required at start-up; the provider uses it only when CleanupDefunctSiloEntryKey
-- below is absent): delete the cluster's Dead silo rows that started and last said they were alive before
-- @IAmAliveTime. Does not move the version on.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleans_membership
WHERE deployment_id = CAST(@DeploymentId AS text)
  AND status = 6
  AND start_time < CAST(@IAmAliveTime AS timestamptz)
  AND i_am_alive_time < CAST(@IAmAliveTime AS timestamptz);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- CleanupDefunctSiloEntryKey (optional key, used by 10.4.x when present): the provider reads all rows, picks the Dead
-- ones older than its cut-off, and deletes each with this query only if the row is still exactly as it read it
-- (still Dead, same start time, I-am-alive time and suspect times). Does not move the version on.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('CleanupDefunctSiloEntryKey', $q$
DELETE FROM orleans_membership
WHERE deployment_id = CAST(@DeploymentId AS text)
  AND address = CAST(@Address AS text)
  AND port = CAST(@Port AS integer)
  AND generation = CAST(@Generation AS integer)
  AND status = 6
  AND start_time = CAST(@StartTime AS timestamptz)
  AND i_am_alive_time = CAST(@IAmAliveTime AS timestamptz)
  AND COALESCE(suspect_times, '') = COALESCE(CAST(@SuspectTimes AS text), '');
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;


-- ---- Grain storage ---------------------------------------------------------------------------------------------------
-- All four take @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, @GrainIdExtensionString, @GrainIdHash,
-- @GrainTypeHash; write/clear/delete also @GrainStateVersion (the grain's etag as int, NULL if it has none).

-- ReadFromStorageKey: zero rows (never written) or one row: "PayloadBinary" (NULL after a clear) and "Version".
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', $q$
SELECT s.payload AS "PayloadBinary",
       s.version AS "Version"
FROM orleans_storage AS s
WHERE s.service_id = CAST(@ServiceId AS text)
  AND s.grain_type = CAST(@GrainTypeString AS text)
  AND s.grain_id_n0 = CAST(@GrainIdN0 AS bigint)
  AND s.grain_id_n1 = CAST(@GrainIdN1 AS bigint)
  AND s.grain_id_extension = COALESCE(CAST(@GrainIdExtensionString AS text), '')
  AND s.grain_id_has_extension = (CAST(@GrainIdExtensionString AS text) IS NOT NULL);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- WriteToStorageKey: store @PayloadBinary. With @GrainStateVersion NULL the row must not exist yet (insert, version
-- 1); otherwise the stored version must equal it (update, version + 1). Returns one row, "NewGrainStateVersion":
-- the new version, or NULL when the etag did not match (row changed, or created by someone else), which the
-- provider turns into an InconsistentStateException.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', $q$
WITH updated AS (
    UPDATE orleans_storage AS s
    SET payload = CAST(@PayloadBinary AS bytea),
        version = CASE WHEN s.version = 2147483647 THEN 1 ELSE s.version + 1 END,
        grain_type_hash = CAST(@GrainTypeHash AS integer),
        grain_id_hash = CAST(@GrainIdHash AS integer),
        modified_at = now()
    WHERE s.service_id = CAST(@ServiceId AS text)
      AND s.grain_type = CAST(@GrainTypeString AS text)
      AND s.grain_id_n0 = CAST(@GrainIdN0 AS bigint)
      AND s.grain_id_n1 = CAST(@GrainIdN1 AS bigint)
      AND s.grain_id_extension = COALESCE(CAST(@GrainIdExtensionString AS text), '')
      AND s.grain_id_has_extension = (CAST(@GrainIdExtensionString AS text) IS NOT NULL)
      AND s.version = CAST(@GrainStateVersion AS integer)
    RETURNING s.version
),
inserted AS (
    INSERT INTO orleans_storage
        (service_id, grain_type, grain_id_n0, grain_id_n1, grain_id_extension, grain_id_has_extension,
         grain_type_hash, grain_id_hash, payload, version)
    SELECT CAST(@ServiceId AS text),
           CAST(@GrainTypeString AS text),
           CAST(@GrainIdN0 AS bigint),
           CAST(@GrainIdN1 AS bigint),
           COALESCE(CAST(@GrainIdExtensionString AS text), ''),
           CAST(@GrainIdExtensionString AS text) IS NOT NULL,
           CAST(@GrainTypeHash AS integer),
           CAST(@GrainIdHash AS integer),
           CAST(@PayloadBinary AS bytea),
           1
    WHERE CAST(@GrainStateVersion AS integer) IS NULL
    ON CONFLICT DO NOTHING
    RETURNING version
)
SELECT (SELECT version FROM updated UNION ALL SELECT version FROM inserted) AS "NewGrainStateVersion";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- ClearStorageKey: keep the row but drop its payload, if the stored version equals @GrainStateVersion; the version
-- moves on by one. Returns one row, one column (read by position): the new version, or NULL on an etag mismatch.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', $q$
WITH cleared AS (
    UPDATE orleans_storage AS s
    SET payload = NULL,
        version = CASE WHEN s.version = 2147483647 THEN 1 ELSE s.version + 1 END,
        modified_at = now()
    WHERE s.service_id = CAST(@ServiceId AS text)
      AND s.grain_type = CAST(@GrainTypeString AS text)
      AND s.grain_id_n0 = CAST(@GrainIdN0 AS bigint)
      AND s.grain_id_n1 = CAST(@GrainIdN1 AS bigint)
      AND s.grain_id_extension = COALESCE(CAST(@GrainIdExtensionString AS text), '')
      AND s.grain_id_has_extension = (CAST(@GrainIdExtensionString AS text) IS NOT NULL)
      AND s.version = CAST(@GrainStateVersion AS integer)
    RETURNING s.version
)
SELECT (SELECT version FROM cleared) AS "NewGrainStateVersion";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- DeleteStorageKey (optional; used instead of ClearStorageKey when the provider's DeleteStateOnClear is set): delete
-- the row if the stored version equals @GrainStateVersion. Returns one row, one column (read by position): the
-- deleted version + 1 (so the provider sees a change), or NULL on an etag mismatch.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteStorageKey', $q$
WITH deleted AS (
    DELETE FROM orleans_storage AS s
    WHERE s.service_id = CAST(@ServiceId AS text)
      AND s.grain_type = CAST(@GrainTypeString AS text)
      AND s.grain_id_n0 = CAST(@GrainIdN0 AS bigint)
      AND s.grain_id_n1 = CAST(@GrainIdN1 AS bigint)
      AND s.grain_id_extension = COALESCE(CAST(@GrainIdExtensionString AS text), '')
      AND s.grain_id_has_extension = (CAST(@GrainIdExtensionString AS text) IS NOT NULL)
      AND s.version = CAST(@GrainStateVersion AS integer)
    RETURNING s.version
)
SELECT (SELECT CASE WHEN version = 2147483647 THEN 1 ELSE version + 1 END FROM deleted) AS "NewGrainStateVersion";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;


-- ---- Reminders -------------------------------------------------------------------------------------------------------
-- Reminder rows are returned as "GrainId", "ReminderName", "StartTime", "Period" (ms), "Version" (the etag).

-- UpsertReminderRowKey: insert or replace a reminder. Returns one row, "Version": the new etag.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpsertReminderRowKey', $q$
WITH upserted AS (
    INSERT INTO orleans_reminders AS r
        (service_id, grain_id, reminder_name, start_time, period_ms, grain_hash, version)
    VALUES (CAST(@ServiceId AS text),
            CAST(@GrainId AS text),
            CAST(@ReminderName AS text),
            CAST(@StartTime AS timestamptz),
            CAST(@Period AS bigint),
            CAST(@GrainHash AS integer),
            0)
    ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
    SET start_time = EXCLUDED.start_time,
        period_ms = EXCLUDED.period_ms,
        grain_hash = EXCLUDED.grain_hash,
        version = CASE WHEN r.version = 2147483647 THEN 0 ELSE r.version + 1 END
    RETURNING r.version
)
SELECT version AS "Version" FROM upserted;
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- ReadReminderRowsKey: all reminders of one grain.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowsKey', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       version       AS "Version"
FROM orleans_reminders
WHERE service_id = CAST(@ServiceId AS text)
  AND grain_id = CAST(@GrainId AS text);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- ReadReminderRowKey: one reminder of one grain (zero or one row).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowKey', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       version       AS "Version"
FROM orleans_reminders
WHERE service_id = CAST(@ServiceId AS text)
  AND grain_id = CAST(@GrainId AS text)
  AND reminder_name = CAST(@ReminderName AS text);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- ReadRangeRows1Key: reminders whose hash lies in the ring range (@BeginHash, @EndHash]. The provider sends both
-- bounds as signed ints and picks this key when (int)begin < (int)end, i.e. when the range does not wrap in signed
-- order.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows1Key', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       version       AS "Version"
FROM orleans_reminders
WHERE service_id = CAST(@ServiceId AS text)
  AND grain_hash > CAST(@BeginHash AS integer)
  AND grain_hash <= CAST(@EndHash AS integer);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- ReadRangeRows2Key: the same range when it wraps in signed order ((int)begin >= (int)end): above @BeginHash or at
-- most @EndHash. begin = end means the whole ring.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows2Key', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       version       AS "Version"
FROM orleans_reminders
WHERE service_id = CAST(@ServiceId AS text)
  AND (grain_hash > CAST(@BeginHash AS integer)
       OR grain_hash <= CAST(@EndHash AS integer));
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- DeleteReminderRowKey: delete one reminder if its etag is still @Version. Returns one row, one column: true if it
-- was deleted.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowKey', $q$
WITH deleted AS (
    DELETE FROM orleans_reminders
    WHERE service_id = CAST(@ServiceId AS text)
      AND grain_id = CAST(@GrainId AS text)
      AND reminder_name = CAST(@ReminderName AS text)
      AND version = CAST(@Version AS integer)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM deleted) AS "Deleted";
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;

-- DeleteReminderRowsKey: delete every reminder of the service (the provider's TestOnlyClearTable). No result is read.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowsKey', $q$
DELETE FROM orleans_reminders
WHERE service_id = CAST(@ServiceId AS text);
$q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
