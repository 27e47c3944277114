-- Running totals of credits used, kept by triggers on the ledger, so a charge reads two rows instead of
-- summing every reservation of the period. The ledger stays the record; these follow from it.
CREATE TABLE quota_member_usage (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    period   TEXT    NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, period)
);

CREATE TABLE quota_pool_usage (
    guild_id INTEGER NOT NULL,
    period   TEXT    NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, period)
);

CREATE TRIGGER quota_reserve_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reserve'
BEGIN
    INSERT INTO quota_member_usage (guild_id, user_id, period, used) VALUES (NEW.guild_id, NEW.user_id, NEW.period, NEW.amount)
        ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = used + excluded.used;
    INSERT INTO quota_pool_usage (guild_id, period, used) VALUES (NEW.guild_id, NEW.period, NEW.amount)
        ON CONFLICT (guild_id, period) DO UPDATE SET used = used + excluded.used;
END;

-- A refund always gives back to the pool; to the member only when no reset came after the charge
-- (a reset already cleared it).
CREATE TRIGGER quota_refund_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'refund'
BEGIN
    UPDATE quota_pool_usage SET used = MAX(0, used - NEW.amount)
        WHERE guild_id = NEW.guild_id AND period = NEW.period;
    UPDATE quota_member_usage SET used = MAX(0, used - NEW.amount)
        WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id AND period = NEW.period
          AND NOT EXISTS (
              SELECT 1 FROM quota_ledger AS s, quota_ledger AS r
              WHERE r.job_id = NEW.job_id AND r.kind = 'reserve'
                AND s.guild_id = NEW.guild_id AND s.user_id = NEW.user_id AND s.period = NEW.period
                AND s.kind = 'reset' AND s.id > r.id);
END;

CREATE TRIGGER quota_reset_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reset'
BEGIN
    INSERT INTO quota_member_usage (guild_id, user_id, period, used) VALUES (NEW.guild_id, NEW.user_id, NEW.period, 0)
        ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = 0;
END;

-- Totals for what the ledger already holds.
INSERT INTO quota_pool_usage (guild_id, period, used)
SELECT r.guild_id, r.period, SUM(r.amount) FROM quota_ledger AS r
WHERE r.kind = 'reserve' AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
GROUP BY r.guild_id, r.period;

INSERT INTO quota_member_usage (guild_id, user_id, period, used)
SELECT r.guild_id, r.user_id, r.period, SUM(r.amount) FROM quota_ledger AS r
WHERE r.kind = 'reserve'
  AND r.id > COALESCE((SELECT MAX(s.id) FROM quota_ledger AS s WHERE s.guild_id = r.guild_id AND s.user_id = r.user_id
                       AND s.period = r.period AND s.kind = 'reset'), 0)
  AND NOT EXISTS (SELECT 1 FROM quota_ledger AS f WHERE f.job_id = r.job_id AND f.kind = 'refund')
GROUP BY r.guild_id, r.user_id, r.period;
