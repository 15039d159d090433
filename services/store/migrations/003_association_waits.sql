-- Records whose associated record has not synced yet: looked at again with growing delays.
CREATE TABLE association_waits (
    connection_id  text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object_type    text NOT NULL,
    side           text NOT NULL,
    record_id      text NOT NULL,
    to_object      text NOT NULL,
    attempts       integer NOT NULL DEFAULT 1,
    next_try_at    timestamptz NOT NULL,
    PRIMARY KEY (connection_id, object_type, side, record_id, to_object)
);
CREATE INDEX association_waits_due ON association_waits (next_try_at);
