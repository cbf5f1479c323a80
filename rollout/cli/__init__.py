"""The `rollout` command line: run the service, and drive it from the shell.

Every command but `serve` and `controller` speaks the service's HTTP API through the one client
in `rollout.http` and prints what it answers; no command reads or writes Redis, except the
explicit bootstrap `rollout keys create --local`. One module per command group, `output` for
printing, `main` for the parser.
"""
