"""LLM calls measured with no glue: provider integrations, prices and the standard metrics.

Everything here runs in the application, beside its provider client; a failure to measure or
record never breaks the call it measures. Provider packages (`openai`, `anthropic`, `litellm`)
are the application's own, imported only by the integration that wraps them.
"""
