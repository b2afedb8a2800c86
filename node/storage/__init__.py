"""Storage: the node's LevelDB and what is kept beside it.

`store` wraps plyvel (batches, overlays for speculative state, the private data directory,
the lock a reader shares); `schema` names every key prefix in one place; `indexes` writes
and reads the event indexes the REST API and the regulator feed are served from (a seek
and a bounded walk, never a scan of blocks); `members` keeps the members of anchored
batches that anchoring clients hand over, checked against their roots, so a file is found
by its own digest; `blobs` stores encrypted documents by digest with quotas per caller and
for the store.
"""
