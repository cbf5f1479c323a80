"""The `rollout` command: run the service, and drive it from the shell.

    rollout serve | controller                      run the API (and controller) / the controller
    rollout keys create|list|revoke                 API keys (Redis directly, or over HTTP)
    rollout experiments list|show|create|...        define and operate experiments
    rollout results KEY                             the figures, comparison by comparison
    rollout prompts list|show|push|diff|render|label
    rollout apply | export                          prompts as code (rollout/apply.py)

Every command but `serve` and `controller` speaks the HTTP API: `--url` (or ROLLOUT_URL, default
http://127.0.0.1:8000) and `--key` (or ROLLOUT_API_KEY). `--json` prints the service's JSON
instead of text, for scripts. A refusal prints the service's message (and each field it names)
and exits 1; a usage error exits 2. docs/sdk.md is the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import redis
import requests
import yaml

from experiments.errors import DomainError
from experiments.model import Role
from rollout.config_cache import ConfigWatcher
from rollout.settings import Settings

if TYPE_CHECKING:
    from experiments.store import Store

Command = Callable[[argparse.Namespace], int]

DEFAULT_URL = "http://127.0.0.1:8000"
PAGE = 500
WIDTH = 79
"""Text output fits an 80-column terminal."""


class CliError(Exception):
    """A problem to report in one line before exiting 1 (or `code`)."""

    def __init__(self, message: str, details: Sequence[Mapping[str, Any]] = (), code: int = 1):
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.code = code


# --- talking to the service ----------------------------------------------------------------------


class Service:
    """The HTTP API with one key; every non-2xx answer raises CliError with the service's words."""

    def __init__(self, url: str, key: str | None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout_s = timeout_s
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            response = self.http.request(
                method, self.url + path, json=body, params=params, headers=headers,
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {self.url}: {_first_line(exc)}") from None
        if response.status_code >= 400:
            raise _refusal(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{method} {path}: the answer is not JSON") from None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, {} if body is None else body)

    def pages(self, path: str, field: str, **params: Any) -> list[Any]:
        """Every item of a paginated list (`next_offset`), in order."""
        items: list[Any] = []
        offset: int | None = 0
        while offset is not None:
            page = self.get(path, limit=PAGE, offset=offset, **params)
            items.extend(page[field])
            offset = page.get("next_offset")
        return items


def _refusal(response: requests.Response) -> CliError:
    try:
        error = response.json()["error"]
        message, details = str(error["message"]), list(error.get("details") or [])
    except (ValueError, KeyError, TypeError):
        message, details = f"HTTP {response.status_code}: {response.text[:200].strip()}", []
    return CliError(message, details)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def service(args: argparse.Namespace) -> Service:
    """The service the command line names (for commands added by other modules too)."""
    key = args.key or os.environ.get("ROLLOUT_API_KEY")
    if not key:
        raise CliError("no API key: pass --key or set ROLLOUT_API_KEY", code=2)
    return Service(args.url or os.environ.get("ROLLOUT_URL") or DEFAULT_URL, key)


def _path(*parts: str) -> str:
    return "/api/v1/" + "/".join(quote(p, safe="") for p in parts)


# --- printing ------------------------------------------------------------------------------------


class Style:
    """ANSI colours when writing to a terminal (and NO_COLOR is not set), else plain text."""

    CODES = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stdout(cls) -> Style:
        tty = sys.stdout.isatty()
        return cls(tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")

    def __call__(self, text: str, colour: str) -> str:
        return f"\033[{self.CODES[colour]}m{text}\033[0m" if self.enabled else text


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str] | str) -> None:
    """The service's JSON with --json, else the text rendering."""
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    rendered = text() if callable(text) else text
    print(rendered, end="" if rendered.endswith("\n") else "\n")


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Left-aligned columns (the last one takes the rest of the line), clipped to fit."""
    lines = []
    for row in rows:
        cells = [clip(cell, w).ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        used = sum(widths[: len(cells)]) + len(cells)
        cells.append(clip(row[-1], max(8, WIDTH - used)))
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def percent(value: float | None, signed: bool = False, decimals_below: float = 10.0) -> str:
    """`12%`, `1.5%`, `+3.2%`: one decimal below `decimals_below` percent, none above, and
    capped at 999% for display."""
    if value is None:
        return "-"
    scaled = value * 100.0
    if abs(scaled) >= 1000.0:
        return (">" if scaled > 0 else "<") + ("+999%" if scaled > 0 else "-999%")
    sign = "+" if signed else ""
    return f"{scaled:{sign}.1f}%" if abs(scaled) < decimals_below else f"{scaled:{sign}.0f}%"


def interval(bounds: Sequence[float | None] | None) -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "-"
    return f"[{percent(bounds[0], True)}, {percent(bounds[1], True)}]"


def share(value: float | None) -> str:
    """A binary metric's mean: the share of users with a success, to a tenth of a percent."""
    return "-" if value is None else f"{value * 100.0:.1f}%"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(timestamp))


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def load_document(path: str) -> Any:
    """A JSON or YAML file (`-` reads stdin); YAML is a superset of JSON, so one parser reads
    both, but a .json file is parsed as JSON for its sharper error messages."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", code=2) from None
    try:
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{path} is not valid JSON or YAML: {_first_line(exc)}", code=2) from None


def assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that parses as JSON is that JSON (`n=3`, `tags=["a"]`)."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliError(f"expected NAME=VALUE, not {pair!r}", code=2)
        try:
            found[name] = json.loads(raw)
        except ValueError:
            found[name] = raw
    return found


# --- serve, controller ---------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env()


def cmd_serve(args: argparse.Namespace) -> int:
    from rollout.serve import serve

    overrides = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    return serve(Settings.from_env(**overrides), workers=args.workers,
                 with_controller=not args.no_controller)


def cmd_controller(args: argparse.Namespace) -> int:
    import threading

    from rollout.runner import run_forever
    from rollout.serve import local_redis_url

    settings = _settings(args)
    url = local_redis_url(settings)
    if url is None:
        print("rollout: set REDIS_URL (or run `make run` on this machine)", file=sys.stderr)
        return 2
    stop = threading.Event()
    # SIGTERM (Kubernetes, compose, systemd) ends the loop like Ctrl-C, so the lease is released
    # and a standby replica takes over at once rather than after the lease's time to live.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        run_forever(url, settings, stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


# --- keys ----------------------------------------------------------------------------------------


def _keys_over_http(args: argparse.Namespace) -> bool:
    """Keys go over HTTP when the command line names a service (--url or --key); otherwise
    straight to Redis when this machine knows one (bootstrapping: there is no key yet), else
    over HTTP with ROLLOUT_URL / ROLLOUT_API_KEY."""
    from rollout.serve import local_redis_url

    if args.url_given or args.key_given:
        return True
    return local_redis_url(_settings(args)) is None


def _store_for_admin(args: argparse.Namespace) -> Store:
    from experiments.store import Store
    from rollout.serve import local_redis_url

    url = local_redis_url(_settings(args))
    if url is None:
        raise CliError("set REDIS_URL (or run `make run` on this machine), or pass --url/--key")
    return Store.from_url(url)


def cmd_keys_create(args: argparse.Namespace) -> int:
    if _keys_over_http(args):
        created = service(args).post("/api/v1/keys", {"name": args.name, "role": args.role})
    else:
        store = _store_for_admin(args)
        key, secret = store.apikeys.create(args.name, Role(args.role), time.time(), "cli")
        store.announce_change()
        created = {**key.public(), "secret": secret}
    emit(args, created, f"{created['secret']}\n(role {created['role']}; shown once)")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    if _keys_over_http(args):
        keys = service(args).get("/api/v1/keys")["keys"]
    else:
        keys = [k.public() for k in _store_for_admin(args).apikeys.list()]
    emit(args, {"keys": keys},
         lambda: table([(k["name"], k["role"], when(k.get("created_at"))) for k in keys],
                       [32, 8]) or "no keys")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    if _keys_over_http(args):
        service(args).call("DELETE", _path("keys", args.name))
    else:
        store = _store_for_admin(args)
        store.apikeys.revoke(args.name)
        store.announce_change()
        # As DELETE /api/v1/keys does: once this returns, no worker accepts the key any more.
        time.sleep(ConfigWatcher(store.redis).propagation_s)
    emit(args, {"revoked": args.name}, f"revoked {args.name}")
    return 0


# --- experiments ---------------------------------------------------------------------------------


def _traffic(experiment: Mapping[str, Any]) -> float:
    """The traffic in force: a running rollout's stage decides (the contract)."""
    rollout, stage = experiment.get("rollout"), experiment.get("stage")
    if rollout and stage is not None and stage < len(rollout.get("stages") or []):
        return float(rollout["stages"][stage]["traffic"])
    return float(experiment.get("traffic", 0.0))


def _state(experiment: Mapping[str, Any], style: Style) -> str:
    colours = {"running": "green", "paused": "yellow", "rolled_back": "red", "concluded": "cyan"}
    status = str(experiment["status"])
    parts = [style(status, colours.get(status, "dim"))]
    if experiment.get("stage") is not None:
        parts.append(f"stage {experiment['stage']}")
    parts.append(f"traffic {percent(_traffic(experiment))}")
    if experiment.get("winner"):
        parts.append(f"winner {experiment['winner']}")
    return ", ".join(parts)


def cmd_experiments_list(args: argparse.Namespace) -> int:
    found = service(args).pages(
        "/api/v1/experiments", "experiments", status=args.status, owner=args.owner,
        layer=args.layer,
    )

    def text() -> str:
        if not found:
            return "no experiments"
        rows = [("KEY", "STATUS", "TRAFFIC", "LAYER", "NAME")]
        rows += [
            (e["key"], e["status"], percent(_traffic(e)), e.get("layer") or "-", e["name"])
            for e in found
        ]
        return table(rows, [24, 11, 7, 12])

    emit(args, {"experiments": found, "total": len(found)}, text)
    return 0


def cmd_experiments_show(args: argparse.Namespace) -> int:
    experiment = service(args).get(_path("experiments", args.experiment))
    emit(args, experiment, lambda: describe(experiment, Style.for_stdout()))
    return 0


def describe(e: Mapping[str, Any], style: Style) -> str:
    lines = [f"{style(e['key'], 'bold')}  {e['name']}", f"  state     {_state(e, style)}"]
    if e.get("owner"):
        lines.append(f"  owner     {e['owner']}")
    if e.get("layer"):
        share = e.get("layer_range")
        span = f" [{share[0]:.3f}, {share[1]:.3f})" if share else ""
        lines.append(f"  layer     {e['layer']}{span}")
    if e.get("targeting"):
        lines.append("  targeting " + clip(compact(e["targeting"]), WIDTH - 12))
    if e.get("rollback_reason"):
        lines.append(f"  rollback  {e['rollback_reason']}")
    lines.append("  variants")
    pinned = e.get("prompts") or {}
    for v in e["variants"]:
        marks = " (control)" if v["key"] == e["control"] else ""
        prompt = pinned.get(v["key"])
        ref = f"{prompt['name']}@{prompt['version']}" if prompt else v.get("prompt") or ""
        config = compact(v["config"]) if v.get("config") is not None else ""
        detail = "  ".join(p for p in (ref, config) if p)
        lines.append(clip(f"    {v['key']:<16} {v['weight']:>6.1%}  {detail}{marks}", WIDTH))
    if e.get("metrics"):
        lines.append("  metrics")
        for m in e["metrics"]:
            guardrail = m["role"] == "guardrail"
            extra = f", max regression {percent(m['max_regression'])}" if guardrail else ""
            lines.append(f"    {m['key']:<16} {m['type']}, {m['role']}, {m['direction']}{extra}")
    if e.get("rollout"):
        plan = e["rollout"]
        flags = [name for name in ("auto_advance", "auto_rollback", "auto_ship") if plan.get(name)]
        lines.append(f"  rollout   {', '.join(flags) or 'manual'}")
        for index, stage in enumerate(plan["stages"]):
            here = style(" <", "bold") if e.get("stage") == index else ""
            lines.append(
                f"    {index}: {percent(stage['traffic']):>6}  at least"
                f" {stage['min_duration_s']} s, {stage['min_users_per_variant']} users a variant"
                f"{here}"
            )
    for pending in e.get("pending") or []:
        lines.append(
            style(f"  pending   {pending['kind']} {pending['id']} proposed by"
                  f" {pending['proposed_by']} (needs another key's approval)", "yellow")
        )
    return "\n".join(lines)


def cmd_experiments_create(args: argparse.Namespace) -> int:
    body = load_document(args.file)
    if not isinstance(body, dict):
        raise CliError(f"{args.file} must hold one experiment (a mapping)", code=2)
    created = service(args).post("/api/v1/experiments", body)
    emit(args, created, f"created {created['key']} ({created['status']})")
    return 0


def _operate(args: argparse.Namespace, action: str, body: dict[str, Any]) -> int:
    outcome = service(args).post(_path("experiments", args.experiment, action), body)
    experiment, pending = outcome["experiment"], outcome.get("pending")

    def text() -> str:
        style = Style.for_stdout()
        if pending:
            return style(
                f"{args.experiment}: {action} waits for approval: change {pending['id']} (`rollout"
                f" experiments approve {args.experiment} {pending['id']}` with another key)",
                "yellow",
            )
        return f"{args.experiment}: {_state(experiment, style)}"

    emit(args, outcome, text)
    return 0


def _reason(args: argparse.Namespace) -> dict[str, Any]:
    return {"reason": args.reason} if args.reason else {}


def cmd_experiments_action(args: argparse.Namespace) -> int:
    return _operate(args, args.action, _reason(args))


def cmd_experiments_conclude(args: argparse.Namespace) -> int:
    return _operate(args, "conclude", {"winner": args.winner, **_reason(args)})


def cmd_experiments_approve(args: argparse.Namespace) -> int:
    return _operate(args, "approve", {"change": args.change})


def cmd_experiments_ramp(args: argparse.Namespace) -> int:
    """Set `traffic` (PATCH); under review a raise becomes a proposal (202)."""
    answer = service(args).call(
        "PATCH", _path("experiments", args.experiment), {"traffic": args.traffic, **_reason(args)}
    )
    pending = answer.get("pending") if "experiment" in answer else None
    experiment = answer.get("experiment", answer)

    def text() -> str:
        style = Style.for_stdout()
        if pending:
            return style(f"{args.experiment}: the raise waits for approval: change {pending['id']}",
                         "yellow")
        return f"{args.experiment}: {_state(experiment, style)}"

    emit(args, answer, text)
    return 0


def cmd_experiments_evaluate(args: argparse.Namespace) -> int:
    decision = service(args).post(_path("experiments", args.experiment, "evaluate"))

    def text() -> str:
        style = Style.for_stdout()
        lines = [f"{args.experiment}: {_decision(decision, style)}"]
        if decision.get("applied"):
            lines.append(f"  applied: {decision['applied']}")
        lines += [f"  - {reason}" for reason in decision.get("reasons") or []]
        return "\n".join(lines)

    emit(args, decision, text)
    return 0


def _decision(decision: Mapping[str, Any], style: Style) -> str:
    colours = {"advance": "green", "complete": "green", "hold": "yellow", "rollback": "red"}
    action = str(decision.get("action", "?"))
    return style(action, colours.get(action, "bold"))


def cmd_experiments_history(args: argparse.Namespace) -> int:
    history = service(args).get(
        _path("experiments", args.experiment, "history"), limit=args.limit, offset=0
    )

    def text() -> str:
        lines = []
        for entry in history["history"]:
            line = f"{when(entry['at'])}  {entry['actor']:<16} {entry['action']}"
            if entry.get("reason"):
                line += f": {entry['reason']}"
            lines.append(clip(line, WIDTH))
            if entry.get("changes"):
                lines.append(clip("    " + compact(entry["changes"]), WIDTH))
        return "\n".join(lines) or "no history"

    emit(args, history, text)
    return 0


# --- results -------------------------------------------------------------------------------------


def cmd_results(args: argparse.Namespace) -> int:
    results = service(args).get(
        _path("experiments", args.experiment, "results"), effect=args.effect
    )
    emit(args, results, lambda: render_results(results, Style.for_stdout()))
    return 0


def render_results(r: Mapping[str, Any], style: Style) -> str:
    """The results document as text within 80 columns: one block per metric, one row per arm."""
    srm = r.get("srm") or {}
    users = "  ".join(f"{k} {v['users']}" for k, v in (r.get("variants") or {}).items())
    srm_text = f"SRM p={number(srm.get('p_value'))} " + (
        style("ok", "green") if srm.get("ok", True) else style("MISMATCH", "red")
    )
    lines = [
        f"{style(str(r['experiment']), 'bold')}  {_state(r, style)}",
        clip(f"users  {users}", WIDTH - len(srm_text) - 3) + "   " + srm_text,
    ]
    decision = r.get("decision") or {}
    if decision:
        lines.append(f"decision  {_decision(decision, style)}")
        lines += [
            textwrap.fill(reason, WIDTH, initial_indent="  - ", subsequent_indent="    ")
            for reason in decision.get("reasons") or []
        ]
    verdicts = {"better": "green", "worse": "red", "inconclusive": "yellow"}
    widths = [12, 9, 7, 15, 15]
    for metric in r.get("metrics") or []:
        kind = f"{metric['type']}, {metric['role']}, {metric['direction']}"
        if metric["role"] == "guardrail":
            kind += f", max {percent(metric.get('max_regression'))}"
        lines += ["", f"{style(metric['metric'], 'bold')}  ({kind})"]
        rows = [("  variant", "mean", "lift", "95% CI", "always-valid", "verdict")]
        as_share = metric["type"] == "binary"
        arms = metric.get("variants") or {}
        compared = {c["variant"]: c for c in metric.get("comparisons") or []}
        baselines = {c["baseline"] for c in compared.values()}
        for name, arm in arms.items():
            mean = share(arm.get("mean")) if as_share else number(arm.get("mean"))
            c = compared.get(name)
            if c is None:
                note = "baseline" if name in baselines or not compared else ""
                rows.append((f"  {name}", mean, "", "", "", style(note, "dim") if note else ""))
                continue
            verdict = str(c.get("verdict") or "-")
            rows.append(
                (
                    f"  {name}",
                    mean,
                    percent(c.get("relative_lift"), True, decimals_below=100.0),
                    interval(c.get("relative_ci")),
                    interval(c.get("sequential_relative_ci")),
                    style(verdict, verdicts.get(verdict, "dim")),
                )
            )
        lines.append(_styled_table(rows, widths))
    return "\n".join(lines)


def _styled_table(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """`table`, but with the last column possibly coloured (escapes take no room on screen)."""
    plain = table([(*row[:-1], "") for row in rows], widths)
    return "\n".join(
        (line.ljust(sum(widths) + len(widths)) + row[-1]).rstrip() if row[-1] else line
        for line, row in zip(plain.splitlines(), rows, strict=True)
    )


# --- prompts -------------------------------------------------------------------------------------


def cmd_prompts_list(args: argparse.Namespace) -> int:
    found = service(args).pages("/api/v1/prompts", "prompts")

    def text() -> str:
        if not found:
            return "no prompts"
        rows = [("NAME", "VERSIONS", "LABELS")]
        rows += [
            (
                p["name"],
                str(p["versions"]),
                ", ".join(f"{k}={v}" for k, v in sorted((p.get("labels") or {}).items())) or "-",
            )
            for p in found
        ]
        return table(rows, [28, 8])

    emit(args, {"prompts": found, "total": len(found)}, text)
    return 0


def _version_of(api: Service, name: str, version: int | None, label: str | None) -> int:
    if version is not None:
        return version
    resolved = api.get(_path("prompts", name, "resolve"), label=label or "production")
    return int(resolved["version"])


def cmd_prompts_show(args: argparse.Namespace) -> int:
    api = service(args)
    if args.version is None and args.label is None:
        prompt = api.get(_path("prompts", args.name))

        def overview() -> str:
            labels = prompt.get("labels") or {}
            lines = [f"{prompt['name']}  labels: "
                     + (", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none")]
            for v in prompt["versions"]:
                notes = [f"[{k}]" for k, n in sorted(labels.items()) if n == v["version"]]
                if v.get("pinned_by"):
                    notes.append(f"(used by {', '.join(v['pinned_by'])})")
                if v.get("message"):
                    notes.append(v["message"])
                line = f"  @{v['version']:<4} {v.get('model') or '-':<16} {' '.join(notes)}"
                lines.append(clip(line.rstrip(), WIDTH))
            return "\n".join(lines)

        emit(args, prompt, overview)
        return 0
    number_ = _version_of(api, args.name, args.version, args.label)
    version = api.get(_path("prompts", args.name, "versions", str(number_)))

    def detail() -> str:
        head = f"{args.name}@{version['version']}  model {version.get('model') or '-'}"
        lines = [head, f"params {compact(version.get('params') or {})}"]
        if version.get("message"):
            lines.append(f"message {version['message']}")
        return "\n".join([*lines, "", version["template"]])

    emit(args, version, detail)
    return 0


def cmd_prompts_push(args: argparse.Namespace) -> int:
    """A new version from a template file, or from a JSON/YAML document of the version."""
    if args.file.endswith((".json", ".yaml", ".yml")):
        body = load_document(args.file)
        if not isinstance(body, dict):
            raise CliError(f"{args.file} must hold one prompt version (a mapping)", code=2)
    else:
        try:
            template = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc.strerror or exc}", code=2) from None
        body = {"template": template}
    if args.model is not None:
        body["model"] = args.model
    if args.param:
        body["params"] = {**(body.get("params") or {}), **assignments(args.param)}
    if args.message is not None:
        body["message"] = args.message
    created = service(args).post(_path("prompts", args.name, "versions"), body)
    emit(args, created, f"{args.name}@{created['version']}  sha256 {created['sha256'][:12]}")
    return 0


def cmd_prompts_diff(args: argparse.Namespace) -> int:
    diff = service(args).get(
        _path("prompts", args.name, "versions", str(args.a), "diff", str(args.b))
    )

    def text() -> str:
        if diff.get("identical"):
            return f"{args.name}@{args.a} and @{args.b} have the same content"
        style = Style.for_stdout()
        colours = {"+": "green", "-": "red", "@": "cyan"}
        lines = []
        for line in str(diff["diff"]).splitlines():
            head = line[:1] if not line.startswith(("+++", "---")) else ""
            lines.append(style(line, colours[head]) if head in colours else line)
        return "\n".join(lines)

    emit(args, diff, text)
    return 0


def cmd_prompts_render(args: argparse.Namespace) -> int:
    variables: dict[str, Any] = {}
    if args.vars:
        loaded = load_document(args.vars)
        if not isinstance(loaded, dict):
            raise CliError(f"{args.vars} must hold a mapping of variables", code=2)
        variables.update(loaded)
    variables.update(assignments(args.var))
    api = service(args)
    version = _version_of(api, args.name, args.version, args.label)
    rendered = api.post(
        _path("prompts", args.name, "versions", str(version), "render"), {"variables": variables}
    )
    emit(args, rendered, rendered["text"])
    return 0


def cmd_prompts_label(args: argparse.Namespace) -> int:
    state = service(args).call(
        "PUT", _path("prompts", args.name, "labels", args.label),
        {"version": args.version, **_reason(args)},
    )

    def text() -> str:
        if state.get("pending") and not state.get("changed"):
            return (f"{args.name}: moving {args.label} to @{args.version} waits for approval:"
                    f" change {state['pending']['id']}")
        return f"{args.name}: {args.label} -> @{state['version']}"

    emit(args, state, text)
    return 0


# --- the parser ----------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    """--url, --key and --json, accepted after the command too (`rollout results x --json`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help=f"the service (default $ROLLOUT_URL or {DEFAULT_URL})")
    common.add_argument("--key", default=argparse.SUPPRESS,
                        help="an API key (default $ROLLOUT_API_KEY)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the service's JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", dest="global_url", metavar="URL",
                        help=f"the service (default $ROLLOUT_URL or {DEFAULT_URL})")
    parser.add_argument("--key", dest="global_key", metavar="KEY",
                        help="an API key (default $ROLLOUT_API_KEY)")
    parser.add_argument("--json", dest="global_json", action="store_true",
                        help="machine-readable output: the service's JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    def command(
        group: Any, name: str, func: Command, help: str, **kw: Any
    ) -> argparse.ArgumentParser:
        found: argparse.ArgumentParser = group.add_parser(
            name, help=help, description=help, parents=[common], **kw
        )
        found.set_defaults(func=func)
        return found

    serve = sub.add_parser("serve", help="run the API under gunicorn (and the controller)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--host")
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-controller", action="store_true")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("controller", help="run the rollout controller loop").set_defaults(
        func=cmd_controller
    )

    keys = sub.add_parser("keys", help="API keys: Redis directly on this machine, else HTTP")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = command(keys_sub, "create", cmd_keys_create, "create a key (the secret is shown once)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    command(keys_sub, "list", cmd_keys_list, "list keys (names and roles)")
    command(keys_sub, "revoke", cmd_keys_revoke, "revoke a key at once").add_argument("name")

    experiments = sub.add_parser("experiments", help="define and operate experiments")
    ex = experiments.add_subparsers(dest="experiments_command", required=True, metavar="ACTION")
    listing = command(ex, "list", cmd_experiments_list, "list experiments")
    listing.add_argument("--status", choices=["draft", "running", "paused", "concluded",
                                              "rolled_back"])
    listing.add_argument("--owner")
    listing.add_argument("--layer")
    command(ex, "show", cmd_experiments_show, "one experiment").add_argument(
        "experiment", metavar="KEY"
    )
    command(ex, "create", cmd_experiments_create,
            "define an experiment (draft) from a JSON or YAML file").add_argument(
        "-f", "--file", required=True, help="the experiment's definition (- reads stdin)"
    )
    for action, help in [
        ("start", "start (or propose to, under review)"),
        ("pause", "pause: everyone gets control"),
        ("resume", "resume a paused experiment"),
        ("advance", "move to the next rollout stage"),
        ("rollback", "roll back: everyone gets control"),
    ]:
        operate = command(ex, action, cmd_experiments_action, help)
        operate.add_argument("experiment", metavar="KEY")
        operate.add_argument("--reason", help="why, for the history")
        operate.set_defaults(action=action)
    conclude = command(
        ex, "conclude", cmd_experiments_conclude, "conclude: everyone gets the winner"
    )
    conclude.add_argument("experiment", metavar="KEY")
    conclude.add_argument("--winner", required=True)
    conclude.add_argument("--reason")
    ramp = command(ex, "ramp", cmd_experiments_ramp, "set the traffic share (0 to 1)")
    ramp.add_argument("experiment", metavar="KEY")
    ramp.add_argument("--traffic", type=float, required=True)
    ramp.add_argument("--reason")
    approve = command(ex, "approve", cmd_experiments_approve,
                      "approve a pending change (another key than its proposer's)")
    approve.add_argument("experiment", metavar="KEY")
    approve.add_argument("change", help="the pending change's id")
    command(ex, "evaluate", cmd_experiments_evaluate,
            "run one controller evaluation now").add_argument("experiment", metavar="KEY")
    history = command(ex, "history", cmd_experiments_history, "every change: who, when, what, why")
    history.add_argument("experiment", metavar="KEY")
    history.add_argument("--limit", type=int, default=100)

    results = command(sub, "results", cmd_results,
                      "results: each comparison's lift, intervals and verdict")
    results.add_argument("experiment", metavar="KEY")
    results.add_argument("--effect", type=float, help="relative effect for the power figures")

    prompts = sub.add_parser("prompts", help="prompt versions and labels")
    pr = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    command(pr, "list", cmd_prompts_list, "list prompts")
    show = command(pr, "show", cmd_prompts_show, "a prompt's versions, or one version")
    show.add_argument("name")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--version", type=int)
    which.add_argument("--label")
    push = command(pr, "push", cmd_prompts_push, "create the next version")
    push.add_argument("name")
    push.add_argument("-f", "--file", required=True,
                      help="the template (- reads stdin), or a .json/.yaml version document")
    push.add_argument("--model")
    push.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    push.add_argument("--message", "-m")
    diff = command(pr, "diff", cmd_prompts_diff, "unified diff from version A to version B")
    diff.add_argument("name")
    diff.add_argument("a", type=int)
    diff.add_argument("b", type=int)
    render = command(pr, "render", cmd_prompts_render,
                     "render a version (default: the one labelled production)")
    render.add_argument("name")
    which = render.add_mutually_exclusive_group()
    which.add_argument("--version", type=int)
    which.add_argument("--label")
    render.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    render.add_argument("--vars", help="a JSON or YAML file of variables")
    label = command(pr, "label", cmd_prompts_label, "point a label at a version")
    label.add_argument("name")
    label.add_argument("label")
    label.add_argument("version", type=int)
    label.add_argument("--reason")

    # `apply` and `export` (prompts as code) come from rollout/apply.py; they take their own
    # --url/--key, and read the merged values `main` leaves in args.url / args.key / args.json.
    from rollout.apply import add_commands as add_apply_commands

    add_apply_commands(sub)
    return parser


def _merge_globals(args: argparse.Namespace) -> None:
    """One value each for url, key and json, wherever on the line they were given."""
    url, key = getattr(args, "url", None), getattr(args, "key", None)
    args.url_given = bool(url or args.global_url)
    args.key_given = bool(key or args.global_key)
    args.url = url or args.global_url
    args.key = key or args.global_key
    args.json = bool(getattr(args, "json", False) or args.global_json)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _merge_globals(args)
    func: Command = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"rollout: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            field = detail.get("field")
            print(f"  {field}: {detail.get('message')}" if field else f"  {detail}",
                  file=sys.stderr)
        return exc.code
    except DomainError as exc:
        print(f"rollout: {exc.message}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"rollout: Redis: {_first_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
