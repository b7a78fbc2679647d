"""The processes of `voicebot serve`: one worker answering calls (`worker`) and the
supervisor that runs and restarts them (`supervisor`)."""
