//! The hot statements, public so that operators (and this crate's tests)
//! can `EXPLAIN` them on a real database: none may read the `outbox` table
//! sequentially, whatever its history. `$1` is always the test clock
//! (NULL in production: the database's `now()`).

/// Claims up to `$2` due rows for worker `$3` with a lease of `$4` ms.
///
/// The two halves read their partial indexes in order and stop after `$2`
/// entries (`outbox_pending_due`, `outbox_lease_expiry`), locking with
/// `FOR UPDATE SKIP LOCKED` so concurrent claimers take different rows
/// instead of waiting; the merge keeps the earliest `$2` by due time. The
/// statement is one round trip and its own transaction, so nothing is held
/// across the HTTP call that follows. It always returns one row: the
/// database's now, and the claimed row's columns (NULL when none).
pub const CLAIM: &str = "\
WITH pending AS (
    SELECT id, next_attempt_at AS due_at, enqueued_at, false AS lease_expired FROM outbox
     WHERE state = 'pending'
       AND next_attempt_at <= COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint)
     ORDER BY next_attempt_at, enqueued_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, lease_until AS due_at, enqueued_at, true AS lease_expired FROM outbox
     WHERE state = 'in_flight'
       AND lease_until <= COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint)
     ORDER BY lease_until, enqueued_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT * FROM pending UNION ALL SELECT * FROM expired
     ORDER BY due_at, enqueued_at, id LIMIT $2
), taken AS (
    UPDATE outbox o SET state = 'in_flight', lease_owner = $3,
        lease_until = COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint) + $4,
        claims = o.claims + 1,
        updated_at = COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint),
        claim_token = nextval('outbox_claim_token')
    FROM chosen WHERE o.id = chosen.id
    RETURNING o.id, o.body, o.attempts, o.claims, o.enqueued_at, o.last_error, o.claim_token,
        o.lease_until, chosen.due_at, chosen.lease_expired
)
SELECT COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint), taken.*
FROM (SELECT 1) AS one LEFT JOIN taken ON true";

/// Records a delivery of row `$2` held with token `$3`: attempt number
/// `$4`, worker `$5`, status `$6`, class `$7`, latency `$8` ms, excerpt
/// `$9`. Fenced by the primary key and the token; the attempt log row is
/// written by the same statement. Returns whether it applied, and the
/// row's state and owner (for the `Fenced` error when it did not).
pub const RECORD_DELIVERED: &str = "\
WITH upd AS (
    UPDATE outbox SET state = 'delivered', attempts = $4,
        delivered_at = COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint),
        updated_at = COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint),
        lease_owner = NULL, lease_until = NULL
    WHERE id = $2 AND state = 'in_flight' AND claim_token = $3
    RETURNING id
), log AS (
    INSERT INTO attempts (signal_id, attempt, at, worker, status, error_class, latency_ms, excerpt)
    SELECT id, $4, COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint),
        $5, $6, $7, $8, $9 FROM upd
)
SELECT (SELECT count(*) FROM upd), (SELECT state FROM outbox WHERE id = $2),
    (SELECT lease_owner FROM outbox WHERE id = $2)";

/// Counts due pending rows, at most `$2` (the worker's "is there work"
/// question and `outbox stats`' capped pending count read the same
/// partial index, never the table).
pub const DUE_COUNT: &str = "\
SELECT count(*) FROM (SELECT 1 FROM outbox
    WHERE state = 'pending'
      AND next_attempt_at <= COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint)
    LIMIT $2) AS due";
