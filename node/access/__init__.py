"""Access: who may call what on the node's HTTP surface.

`roles` holds the permissions, the one table of what each role may do, which JSON-RPC
method needs which, and the auth modes; `tokens` issues role tokens (Ed25519 JWTs signed
by the node's issuer key) and keeps the key, the issued records and the revocations under
`<data_dir>/tokens/` (cheap to import: the CLI uses it); `http` checks what a request
presents and answers, for each JSON-RPC call and REST route, whether this caller may make
it; `session` the console's browser session: the cookie that carries a token and its CSRF
value. docs/access.md is the operator's view of the same.
"""
