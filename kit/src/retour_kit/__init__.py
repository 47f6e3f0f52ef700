"""The runtime kit shared by every retour service.

Import from the modules themselves, so each caller's dependencies stay visible:
`settings`, `logging`, `auth` (+ `token` CLI), `http` (with `http_errors`,
`http_limits`, `metrics`, `readiness`), `db`, `migrations` and `cli`.
"""

__all__: list[str] = []
