-- The dashboard's activity chart counts a connection's audit rows per time bucket.
CREATE INDEX audit_by_time ON audit (connection_id, at);
