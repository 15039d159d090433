-- The record view pages through a sync's links in id order (keyset pagination), with or without
-- a status filter. The status index starts with the columns of links_status, so it serves the
-- health counts too and replaces it: one index more on links, not two, for the writers to keep.
CREATE INDEX links_by_sync ON links (connection_id, object_type, id);
CREATE INDEX links_by_sync_status ON links (connection_id, object_type, status, id);
DROP INDEX links_status;
