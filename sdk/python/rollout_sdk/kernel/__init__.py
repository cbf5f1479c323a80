"""What the service and every SDK must compute identically, written once.

Hashing (`hashing`), targeting (`targeting`), assignment (`assignment`), the SDK document's
schema (`document`), sandboxed template rendering (`render`, its budget and its errors), chat
prompts (`chat`, rendered by `chat_render` under one budget) and the portable template subset
both SDKs render alike (`portability`) are pure functions of their
arguments: no I/O, no clock read outside a render's own time budget, no import of the service
(`experiments`, `rollout`) and no dependency beyond jinja2 and google-re2.
The service imports these modules and never reimplements them; other SDKs reproduce them from
docs/hashing.md and the vectors in tests/vectors/, which the unit suite checks against this code.
"""
