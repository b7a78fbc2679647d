"""The dialog core: a sans-IO engine that runs a flow, and the language parts it needs."""
