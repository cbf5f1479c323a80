"""The app's JSON: orjson for every answer, Flask's own encoder for what orjson cannot write.

orjson writes a tracked assignment's answer in a fraction of the time of the standard library
(it is the second largest cost of the request after the exposure's write). Its output differs
from `json.dumps` only where the standard library is wrong or merely verbose: no spaces, `null`
for a non-finite float (never the invalid `NaN`), non-ASCII characters as UTF-8 rather than
`\\u` escapes. Dates and dataclasses are passed through to Flask's own conversion, and a value
orjson refuses (an integer beyond 64 bits) is written by Flask's encoder, so every answer that was
valid before is the same JSON value now.

`response` (what `jsonify` calls) is overridden as well as `dumps`: Flask's own passes
`separators=` to `dumps` for its compact output, and any keyword sends `dumps` to the standard
library, so without it no answer would ever be written by orjson.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from flask import Response
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
        return self._compact(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A compact answer (out of debug mode) as orjson's bytes and a newline, as Flask ends
        its own; an indented one from Flask's encoder."""
        indented = self.compact is False or (self.compact is None and self._app.debug)
        if indented or self.sort_keys:
            return cast(Response, super().response(*args, **kwargs))
        obj = self._prepare_response_obj(args, kwargs)
        response_class = cast(type[Response], self._app.response_class)  # a Flask app's
        return response_class(self._compact(obj) + b"\n", mimetype=self.mimetype)

    def _compact(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:
            return super().dumps(obj, separators=(",", ":")).encode()
