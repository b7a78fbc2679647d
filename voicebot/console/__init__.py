"""The operators' console, served by `voicebot serve` in the supervisor process: the HTTP API
under /api/v1/ (`api.py`, over the service layer `service.py`), the dashboard (`static/`),
the live calls (`live.py`), `/metrics` (`metrics.py`), API tokens and the audit trail."""
