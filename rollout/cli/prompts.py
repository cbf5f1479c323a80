"""`rollout prompts ...`: prompt versions and labels (editor)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from experiments.prompts.content import prompt_content, readable_text
from rollout.cli.errors import USAGE, CliError
from rollout.cli.inputs import assignments, load_document, read_text, reason, service
from rollout.cli.output import WIDTH, Style, clip, compact, emit, table
from rollout.cli.parsing import add_command
from rollout.cli.promotion import add_prompt_command
from rollout.http import ServiceClient, api_path

NO_NEWLINE = "\\ No newline at end of file"
"""diff(1)'s marker after a last line without a line break."""


def cmd_prompts_list(args: argparse.Namespace) -> int:
    found = service(args).pages(
        "/api/v1/prompts", "prompts", archived="true" if args.archived else None
    )

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


def _version_of(api: ServiceClient, name: str, version: int | None, label: str | None) -> int:
    if version is not None:
        return version
    # No label: the environment's own (the service's default when none is named).
    resolved = api.get(api_path("prompts", name, "resolve"), label=label or api.environment)
    return int(resolved["version"])


def _overview(prompt: Mapping[str, Any]) -> str:
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


def cmd_prompts_show(args: argparse.Namespace) -> int:
    api = service(args)
    if args.version is None and args.label is None:
        prompt = api.get(api_path("prompts", args.name))
        emit(args, prompt, lambda: _overview(prompt))
        return 0
    number_ = _version_of(api, args.name, args.version, args.label)
    version = api.get(api_path("prompts", args.name, "versions", str(number_)))

    def detail() -> str:
        head = f"{args.name}@{version['version']}  model {version.get('model') or '-'}"
        lines = [head, f"params {compact(version.get('params') or {})}"]
        if version.get("message"):
            lines.append(f"message {version['message']}")
        return "\n".join([*lines, "", readable_text(prompt_content(version))])

    emit(args, version, detail)
    return 0


def cmd_prompts_push(args: argparse.Namespace) -> int:
    """A new version from a template file, or from a JSON/YAML document of the version."""
    if args.file.endswith((".json", ".yaml", ".yml")):
        body = load_document(args.file)
        if not isinstance(body, dict):
            raise CliError(f"{args.file} must hold one prompt version (a mapping)", code=USAGE)
    else:
        body = {"template": read_text(args.file)}
    if args.model is not None:
        body["model"] = args.model
    if args.param:
        body["params"] = {**(body.get("params") or {}), **assignments(args.param)}
    if args.message is not None:
        body["message"] = args.message
    created = service(args).post(api_path("prompts", args.name, "versions"), body)
    emit(args, created, f"{args.name}@{created['version']}  sha256 {created['sha256'][:12]}")
    return 0


def diff_text(diff: str, a: int, b: int, style: Style) -> str:
    """The service's unified diff, coloured; diff(1)'s `\\ No newline at end of file` markers
    (which would stand between the template and the settings sections) become one note at the
    end that says which version's template lacks the final line break."""
    colours = {"+": "green", "-": "red", "@": "cyan"}
    lines: list[str] = []
    lacking: list[str] = []
    head = ""
    for line in diff.splitlines():
        if line == NO_NEWLINE:
            lacking += {"-": [f"@{a}"], "+": [f"@{b}"]}.get(head, [f"@{a}", f"@{b}"])
            continue
        head = line[:1] if not line.startswith(("+++", "---")) else ""
        lines.append(style(line, colours[head]) if head in colours else line)
    if lacking:
        which = " and ".join(dict.fromkeys(lacking))
        lines.append(style(f"(no line break at the end of the template of {which})", "dim"))
    return "\n".join(lines)


def cmd_prompts_diff(args: argparse.Namespace) -> int:
    diff = service(args).get(
        api_path("prompts", args.name, "versions", str(args.a), "diff", str(args.b))
    )

    def text() -> str:
        if diff.get("identical"):
            return f"{args.name}@{args.a} and @{args.b} have the same content"
        return diff_text(str(diff["diff"]), args.a, args.b, Style.for_stdout())

    emit(args, diff, text)
    return 0


def cmd_prompts_render(args: argparse.Namespace) -> int:
    variables: dict[str, Any] = {}
    if args.vars:
        loaded = load_document(args.vars)
        if not isinstance(loaded, dict):
            raise CliError(f"{args.vars} must hold a mapping of variables", code=USAGE)
        variables.update(loaded)
    variables.update(assignments(args.var))
    api = service(args)
    version = _version_of(api, args.name, args.version, args.label)
    rendered = api.post(
        api_path("prompts", args.name, "versions", str(version), "render"),
        {"variables": variables},
    )
    text = rendered["text"] if "messages" not in rendered else readable_text(rendered["messages"])
    emit(args, rendered, text)
    return 0


def cmd_prompts_label(args: argparse.Namespace) -> int:
    state = service(args).call(
        "PUT", api_path("prompts", args.name, "labels", args.label),
        {"version": args.version, **reason(args)},
    )

    def text() -> str:
        if state.get("pending") and not state.get("changed"):
            return (f"{args.name}: moving {args.label} to @{args.version} waits for approval:"
                    f" change {state['pending']['id']}")
        return f"{args.name}: {args.label} -> @{state['version']}"

    emit(args, state, text)
    return 0


def cmd_prompts_archive(args: argparse.Namespace) -> int:
    """`archive` or `unarchive` (args.action): the answer says whether it is archived now."""
    state = service(args).post(api_path("prompts", args.name, args.action), reason(args))
    archived = state.get("archived_at") is not None
    emit(args, state, f"{args.name}: {'archived' if archived else 'not archived'}")
    return 0


def add_commands(sub: Any) -> None:
    prompts = sub.add_parser("prompts", help="prompt versions and labels")
    pr = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    add_command(pr, "list", cmd_prompts_list, "list prompts").add_argument(
        "--archived", action="store_true", help="list the archived ones too"
    )
    show = add_command(pr, "show", cmd_prompts_show, "a prompt's versions, or one version")
    show.add_argument("name")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--version", type=int)
    which.add_argument("--label")
    push = add_command(pr, "push", cmd_prompts_push, "create the next version")
    push.add_argument("name")
    push.add_argument("-f", "--file", required=True,
                      help="the template (- reads stdin), or a .json/.yaml version document")
    push.add_argument("--model")
    push.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    push.add_argument("--message", "-m")
    diff = add_command(pr, "diff", cmd_prompts_diff, "unified diff from version A to version B")
    diff.add_argument("name")
    diff.add_argument("a", type=int)
    diff.add_argument("b", type=int)
    render = add_command(pr, "render", cmd_prompts_render,
                         "render a version (default: the one labelled production)")
    render.add_argument("name")
    which = render.add_mutually_exclusive_group()
    which.add_argument("--version", type=int)
    which.add_argument("--label")
    render.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    render.add_argument("--vars", help="a JSON or YAML file of variables")
    label = add_command(pr, "label", cmd_prompts_label, "point a label at a version")
    label.add_argument("name")
    label.add_argument("label")
    label.add_argument("version", type=int)
    label.add_argument("--reason")
    add_prompt_command(pr)
    for action, help in [
        ("archive", "hide from lists and SDKs, keep its history (not while a running or paused"
         " experiment uses it)"),
        ("unarchive", "list and serve an archived prompt again"),
    ]:
        archive = add_command(pr, action, cmd_prompts_archive, help)
        archive.add_argument("name")
        archive.add_argument("--reason", help="why, for the history")
        archive.set_defaults(action=action)
