"""Prompts and experiments as code: `rollout apply` and `rollout export`.

`spec` reads and validates the files, `plan` decides what to change, `export` builds the
documents; all three are pure. `sync` and `export.export` are the only parts that talk to the
service, through `rollout.http`; `commands` registers the two commands on the CLI.
"""
