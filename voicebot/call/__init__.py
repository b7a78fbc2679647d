"""One call: the sans-IO session (`session`), the runner that feeds it on a live call
(`live_call`), and the record kept of it (`records`: SQLite call records and their turns)."""
