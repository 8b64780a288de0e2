"""The text of a plan (`dispatcher.jobs.plan`): a Kubernetes Indexed Job manifest, a GitHub
Actions workflow or an ssh script, each with a header of comments saying what the user provides
and how the shards' results are collected and merged.

Every command in it is quoted for the shell that runs it (and, in a manifest, escaped for the
kubelet's own `$(NAME)` expansion first); YAML is `yaml.SafeDumper`'s, with a shell script as a
literal block so that it reads as it runs.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from ..errors import ConfigError
from .flags import Flags
from .plan import MARKER, RESULTS_MOUNT, SECRET_NAME, Plan, placeholders


def plan_text(flags: Flags) -> str:
    """What `webhook-sim plan` prints: the plan for the flags, in the form --emit names."""
    return render(Plan.from_flags(flags))


def render(plan: Plan) -> str:
    emitters: dict[str, Callable[[Plan], str]] = {"k8s": k8s, "gha": gha, "ssh": ssh}
    return emitters[plan.emit](plan)


# --- the pieces every emitter uses -------------------------------------------------------------


def _shell(tokens: Sequence[str], width: int = 92) -> str:
    """Tokens already quoted for a shell as one command over lines of at most `width` (longer
    if one option and its value are), an option kept on the line of its value."""
    units: list[str] = []
    for token in tokens:
        if units and units[-1].startswith("-") and " " not in units[-1] and token[0] != "-":
            units[-1] += " " + token
        else:
            units.append(token)
    lines = [units[0]]
    for unit in units[1:]:
        if len(lines[-1]) + 1 + len(unit) > width:
            lines[-1] += " \\"
            lines.append("  " + unit)
        else:
            lines[-1] += " " + unit
    return "\n".join(lines)


def _shard_tokens(plan: Plan, shard: str, start_at: str, out: str) -> list[str]:
    """The shard's command, quoted for a shell but for what the plan adds, which is taken as it
    is: a shell variable, an expression, the run id (its characters need no quoting)."""
    return [
        "webhook-sim", *map(shlex.quote, plan.command.words), "--shard", shard,
        "--run-id", plan.run_id, "--start-at", start_at, "--shard-out", out,
    ]  # fmt: skip


def _merge_tokens(plan: Plan, merge: Sequence[str]) -> list[str]:
    here = plan.results_dir == "."
    files = "shard-*.json" if here else f"{shlex.quote(plan.results_dir)}/shard-*.json"
    shards = ["--expect-shards", str(plan.shards)]
    return ["webhook-sim", "merge", files, *shards, *map(shlex.quote, merge)]


def _comment(text: str) -> str:
    """Paragraphs (one a line) as YAML and shell comments, wrapped; an indented line is a
    command to copy, kept whole."""
    lines = []
    for line in text.strip("\n").splitlines():
        wrapped = textwrap.wrap(line, 94, break_on_hyphens=False)  # never inside a --flag
        lines += [line] if line.startswith("  ") or not wrapped else wrapped
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _about(plan: Plan, where: str) -> str:
    return (
        f"webhook-sim plan: one `{plan.command.words[0]}` split over {plan.shards} {where}, all "
        "starting at the same instant; `webhook-sim merge` merges the shards' results.\n"
    )


_NEEDS = (
    "Every machine needs: its clock in sync (NTP, chrony) within --start-tolerance (default "
    "1s; add it to the command to allow more); a network path to the receiver; every file the "
    "command names (--config, a scenario, --ca-bundle) at the same path.\n"
)


class _Dumper(yaml.SafeDumper):
    """safe_dump's dumper, but a shell script (many lines) is a literal block, a `_Flow` list
    is written on one line, and a value used twice is written twice (no &anchor)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Flow(list[Any]):
    pass


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _flow(dumper: yaml.SafeDumper, items: _Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Flow, _flow)


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


# --- Kubernetes ---------------------------------------------------------------------------------


def _k8s_escape(text: str) -> str:
    """Text as Kubernetes expands a container's command: `$(NAME)` would be replaced by a
    variable and `$$` by `$`, so both are escaped; every other `$` is left for the shell."""
    return re.sub(r"\$(?=[$(])", "$$", text)


def _job_name(run_id: str) -> str:
    # A label value (job-name) and a pod's host name prefix: lower case, short.
    return re.sub(r"[^a-z0-9-]+", "-", f"webhook-sim-{run_id.lower()}")[:52].rstrip("-")


def k8s(plan: Plan) -> str:
    name, out = _job_name(plan.run_id), f"{RESULTS_MOUNT}/shard.json"
    # The index reaches --shard through the shell: the Job controller sets JOB_COMPLETION_INDEX
    # in every pod of an Indexed Job, and a shell is needed anyway to print the JSON last.
    index = f'"$JOB_COMPLETION_INDEX/{plan.shards}"'
    run = _shell(_shard_tokens(plan, index, shlex.quote(plan.start.at), out))
    # A pod fails only when its shard left no result: pass or fail is the merge's to say, and
    # one failed pod fails the Job (backoffLimit 0), which stops the shards still running.
    script = f"{run}\necho {shlex.quote(MARKER)}\nexec cat {out}\n"
    env = [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": var}}}
        for var in plan.command.env
    ]
    container: dict[str, Any] = {
        "name": "webhook-sim", "image": plan.image, "command": ["sh", "-c", _k8s_escape(script)],
        **({"env": env} if env else {}),
        "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
    }  # fmt: skip
    labels = {"app.kubernetes.io/name": "webhook-sim", "webhook-sim/run-id": plan.run_id}
    spread = {
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels},
    }  # fmt: skip
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "completionMode": "Indexed", "completions": plan.shards,
            "parallelism": plan.shards, "backoffLimit": 0,
            "template": {"metadata": {"labels": labels}, "spec": {
                "restartPolicy": "Never", "topologySpreadConstraints": [spread],
                "containers": [container], "volumes": [{"name": "results", "emptyDir": {}}],
            }},
        },
    }  # fmt: skip
    return _comment(_k8s_header(plan, name)) + _yaml(job)


def _k8s_header(plan: Plan, name: str) -> str:
    secret = ""
    if plan.command.env:
        literals = " ".join(f'--from-literal={v}="${v}"' for v in plan.command.env)
        secret = (
            f"Credentials come from the Secret {SECRET_NAME}, never from this file; create it "
            "first, from your own environment so that no value is typed:\n"
            f"  kubectl create secret generic {SECRET_NAME} {literals}\n"
        )
    pods = f"$(kubectl get pods -l job-name={name} -o name)"
    awk = shlex.quote(f"found; $0 == {_double_quoted(MARKER)} {{ found = 1 }}")
    results = shlex.quote(plan.results_dir)
    return (
        _about(plan, "pods of a Kubernetes Indexed Job")
        + f"Run id {plan.run_id}. Start: {plan.start.at}; apply it well before then (kubectl "
        "apply -f THIS_FILE): every pod must be running by that instant.\n"
        f"The image {plan.image} is yours to build and push (--image): any image with "
        "webhook-sim on its PATH and a POSIX sh.\n"
        + _NEEDS
        + secret
        + "kubectl logs mixes stdout and stderr, so each pod prints its shard's JSON last, after "
        "a marker line; a pod fails only when its shard left no result. Collect and merge once "
        "the Job is done:\n"
        f"  kubectl wait --for=condition=complete job/{name} --timeout=1h\n"
        f"  mkdir -p {results}\n"
        f"  for pod in {pods}; do\n"
        f'    kubectl logs "$pod" | awk {awk} > {results}/"shard-${{pod#pod/}}.json"\n'
        "  done\n"
        f"  {' '.join(_merge_tokens(plan, plan.command.merge))}\n"
    )


def _double_quoted(text: str) -> str:
    """`text` as a double-quoted string literal (awk's, JSON's: the marker has no escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- GitHub Actions -----------------------------------------------------------------------------

_INSTALL = {"name": "Install webhook-sim (or, from a checkout of it: pip install .)",
            "run": "pip install webhook-sim"}  # fmt: skip
_SETUP = [{"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}}, _INSTALL]


def gha(plan: Plan) -> str:
    if any("${{" in word for word in (*plan.command.words, *plan.command.merge)):
        raise ConfigError("the command holds '${{', which GitHub Actions would evaluate")
    matrix = "${{ matrix.shard }}"
    jobs: dict[str, Any] = {}
    start_at = shlex.quote(plan.start.at)
    if plan.start.after_s is not None:  # runners start when they start: the instant is set
        start_at = "${{ needs.schedule.outputs.start_at }}"  # once they are about to
        date = f"date -u -d '+{plan.start.after_s} seconds' +%Y-%m-%dT%H:%M:%SZ"
        jobs["schedule"] = {
            "runs-on": "ubuntu-latest",
            "outputs": {"start_at": "${{ steps.start.outputs.start_at }}"},
            "steps": [{"id": "start", "run": f'echo "start_at=$({date})" >> "$GITHUB_OUTPUT"'}],
        }
    out = f"shard-{matrix}.json"
    shard: dict[str, Any] = {"runs-on": "ubuntu-latest"}
    if "schedule" in jobs:
        shard["needs"] = "schedule"
    shard["strategy"] = {"fail-fast": False, "matrix": {"shard": _Flow(range(plan.shards))}}
    if plan.command.env:
        shard["env"] = {var: f"${{{{ secrets.{var} }}}}" for var in plan.command.env}
    shard["steps"] = [
        # The repository: where the files the command names (--config, a scenario) are.
        {"uses": "actions/checkout@v4"}, *_SETUP,
        {"run": _shell(_shard_tokens(plan, f"{matrix}/{plan.shards}", start_at, out)) + "\n"},
        {"uses": "actions/upload-artifact@v4", "if": "always()",
         "with": {"name": f"shard-{matrix}", "path": out, "overwrite": True}},
    ]  # fmt: skip
    jobs["shard"] = shard
    words = list(plan.command.merge)
    for flag, default in (("--report-json", "report.json"), ("--report-html", "report.html")):
        words += [] if flag in words else [flag, default]  # the merge job's artifact
    paths = [words[i + 1] for i, w in enumerate(words) if w in ("--report-json", "--report-html")]
    merge = _merge_tokens(plan, words)
    jobs["merge"] = {"needs": "shard", "if": "always()", "runs-on": "ubuntu-latest", "steps": [
        *_SETUP,
        {"uses": "actions/download-artifact@v4",
         "with": {"pattern": "shard-*", "merge-multiple": True, "path": plan.results_dir}},
        {"run": _shell(merge) + "\n"},
        {"uses": "actions/upload-artifact@v4", "if": "always()",
         "with": {"name": "webhook-sim-report", "path": "\n".join(paths) + "\n",
                  "overwrite": True}},
    ]}  # fmt: skip
    verb = plan.command.words[0]
    workflow = {"name": f"webhook-sim {verb} ({plan.shards} shards)",
                "on": {"workflow_dispatch": {}}, "jobs": jobs}  # fmt: skip
    return _comment(_gha_header(plan)) + _yaml(workflow)


def _gha_header(plan: Plan) -> str:
    when = (
        f"{plan.start.after_s} s after the schedule job runs (raise --start-in if runners queue "
        "longer)"
        if plan.start.after_s is not None
        else plan.start.at
    )
    secrets = "".join(
        f"Add the repository secret {v} (Settings > Secrets and variables > Actions).\n"
        for v in plan.command.env
    )
    return (
        _about(plan, "GitHub Actions runners")
        + "Save as .github/workflows/webhook-sim.yml; run it from the Actions tab.\n"
        f"Start: {when}. Run id: {plan.run_id}.\n"
        "GitHub-hosted runners reach only public receivers; a private one needs self-hosted "
        "runners.\n"
        + _NEEDS
        + secrets
        + "The merge job merges every shard-K artifact and uploads webhook-sim-report. To run "
        "again, re-run all jobs: shards of different attempts have different run ids.\n"
    )


# --- ssh ----------------------------------------------------------------------------------------


def ssh(plan: Plan) -> str:
    results = plan.results_dir
    lines = ["#!/bin/sh", _comment(_ssh_header(plan)).rstrip("\n"), "set -u"]
    lines += [] if results == "." else [f"mkdir -p {shlex.quote(results)}"]
    for k in range(plan.shards):
        at = shlex.quote(plan.start.at)
        remote = " ".join(_shard_tokens(plan, f"{k}/{plan.shards}", at, "-"))
        host = shlex.quote(plan.hosts[k % len(plan.hosts)])
        out = shlex.quote(f"shard-{k}.json" if results == "." else f"{results}/shard-{k}.json")
        # -n: a command in the background must not read this script's stdin.
        lines.append(f"ssh -n -o BatchMode=yes {host} {shlex.quote(remote)} > {out} &")
    lines += ["wait", " ".join(_merge_tokens(plan, plan.command.merge))]
    return "\n".join(lines) + "\n"


def _ssh_header(plan: Plan) -> str:
    stand_in = (
        "host-0, host-1... are placeholders: replace them, or give plan --host (repeatable).\n"
        if plan.hosts == placeholders(plan.shards)
        else ""
    )
    secrets = ""
    if plan.command.env:
        secrets = (
            f"Credentials are not in this script: export {', '.join(plan.command.env)} on every "
            "host where a non-interactive ssh command sees it (for bash: at the top of "
            "~/.bashrc), or send yours with ssh -o SendEnv=NAME if the hosts' sshd allows it "
            "(AcceptEnv).\n"
        )
    return (
        _about(plan, "machines by ssh")
        + f"Run id {plan.run_id}. Start: {plan.start.at}; run this script before then.\n"
        + stand_in
        + "Every host needs webhook-sim on the PATH of a non-interactive ssh command, and "
        "key-based login.\n" + _NEEDS + secrets
    )
