"""The app's JSON: orjson for every answer, Flask's own encoder for what orjson cannot write.

orjson writes a tracked assignment's answer in a fraction of the time of the standard library
(it is the second largest cost of the request after the exposure's write). Its output differs
from `json.dumps` only where the standard library is wrong or merely verbose: no spaces, `null`
for a non-finite float (never the invalid `NaN`). Dates and dataclasses are passed through to
Flask's own conversion, and a value orjson refuses (an integer beyond 64 bits) is written by
Flask's encoder, so every answer that was valid before is the same JSON value now.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson underneath; keys keep their order (sort_keys False).
    Debug mode's indented answers (keyword arguments) go to Flask's encoder."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs or self.sort_keys:
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
        except TypeError:
            return super().dumps(obj)
