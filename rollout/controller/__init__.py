"""The rollout controller's shell: the loop that evaluates running experiments (runner.py) and
the webhook deliveries its decisions send (webhooks.py).

It may read and write through the store (experiments.store: lease, fenced applies, timeline,
outbox, webhook queue), call the pure decision (experiments.decision) and the operations
(rollout.operations), and make outbound HTTP requests to webhook receivers (through
rollout.webhook_destinations and rollout.webhook_delivery, which refuse private addresses). It
decides nothing itself, never speaks Redis directly and knows nothing of Flask: the API's
`/evaluate` route and `rollout controller` both call `evaluate_once`.
"""
