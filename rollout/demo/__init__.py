"""`make demo`: a staged ramp and an automatic rollback, end to end, in under a minute.

It starts the real service (`rollout serve`: gunicorn with two workers and the controller
in-process, evaluating every 0.5 s) on an embedded Redis in a temporary directory, registers two
versions of two prompts, defines two experiments with short stages (seconds instead of hours),
and drives simulated users through the HTTP API (`/assign`, then `/events`):

- `summary-tone`: the new prompt is healthy (more thumbs up, same latency and cost) and ramps
  5% -> 20% -> 50% -> 100% by itself;
- `answer-speed`: the new prompt is 50% slower; its latency guardrail (10% tolerated) is
  breached and the controller rolls it back by itself.

`scenarios` defines both, `traffic` simulates the users, `receiver` checks every webhook's
signature, `report` prints what happens, `run` starts and stops everything. Every call to the
service goes through `rollout.http`; everything the demo starts is stopped at the end, whatever
happens.
"""
