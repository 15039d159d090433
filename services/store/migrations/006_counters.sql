-- Counters that several processes add to (ingest, writers) and the status API exposes as
-- Prometheus metrics: one row per metric name and label set, `value` only ever grows.
CREATE TABLE counters (
    name   text NOT NULL,
    labels jsonb NOT NULL DEFAULT '{}',
    value  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
);
