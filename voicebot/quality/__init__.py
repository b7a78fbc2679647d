"""Quality inspection (质检): every ended call scored against the service's rules, sans-IO.

rules.py       what a rule checks (frozen dataclasses; `*.qa.yaml` is read by
               voicebot/flow/quality_file.py)
inspection.py  `inspect(record, rules) -> Inspection`: a score 0..100 and findings, each
               pointing at the turn it is about
"""
