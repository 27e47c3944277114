-- Credits used by all servers together in a period, kept by triggers on the ledger like 0003's totals, so
-- the operator's TOTAL_CREDIT_CEILING is checked by reading one row in the transaction that charges a job.
-- Like a server's pool, a reset gives nothing back: only a refund does.
CREATE TABLE quota_total_usage (
    period TEXT    PRIMARY KEY,
    used   INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER quota_reserve_counts_total AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reserve'
BEGIN
    INSERT INTO quota_total_usage (period, used) VALUES (NEW.period, NEW.amount)
        ON CONFLICT (period) DO UPDATE SET used = used + excluded.used;
END;

CREATE TRIGGER quota_refund_counts_total AFTER INSERT ON quota_ledger WHEN NEW.kind = 'refund'
BEGIN
    UPDATE quota_total_usage SET used = MAX(0, used - NEW.amount) WHERE period = NEW.period;
END;

-- Totals for what the ledger already holds: the servers' totals, added up.
INSERT INTO quota_total_usage (period, used)
SELECT period, SUM(used) FROM quota_pool_usage GROUP BY period;
