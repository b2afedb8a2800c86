"""Access: who may call what on the node's HTTP surface.

Roles and their permissions, bearer tokens (ES256 JWTs signed by the node's token key), the
token store on disk, and the authorizer that answers, for each JSON-RPC method and REST
route, whether this caller may call it. docs/access.md is the operator's view of the same.
"""
