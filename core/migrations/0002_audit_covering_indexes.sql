-- Covering indexes for the drift audit, so a million ids are checked without reading item content
-- or the 1.5 KB vector blobs (the plain join over them cost ~2.3 s per million items).
CREATE INDEX ix_embeddings_identity ON embeddings (model_fp, item_id, content_hash);
DROP INDEX ix_items_status;
CREATE INDEX ix_items_status_hash ON items (status, id, content_hash);
