"""`make demo`: a staged ramp and an automatic rollback, decided on measured LLM calls, in under
a minute.

It starts the real service (`rollout serve`: gunicorn with two workers and the controller
in-process, evaluating every 0.5 s) on an embedded Redis in a temporary directory, registers two
versions of two prompts, defines two experiments with short stages (seconds instead of hours)
and the `llm` metric preset, and a local OpenAI-compatible server (`llm_server`) whose models
differ in latency and tokens. Simulated users are served by an application that calls that
server with the official `openai` client through `rollout_sdk.llm.openai.RolloutOpenAI`, which
assigns each user, sends the variant's prompt to the variant's model and records latency,
tokens and cost (priced by the SDK's table); the demo itself only adds thumbs up:

- `summary-tone`: the friendlier prompt, on the same model, gets more thumbs up at the same
  latency and about the same cost, and ramps 5% -> 20% -> 50% -> 100% by itself;
- `answer-speed`: the step-by-step prompt on a small reasoning model answers about 85% later and
  costs about 50% more a call; a guardrail is breached and the controller rolls it back.

`scenarios` defines both, `llm_server` stands in for the provider, `traffic` is the application,
`receiver` checks every webhook's signature, `report` prints what happens, `run` starts and stops
everything. Everything the demo starts is stopped at the end, whatever happens.
"""
