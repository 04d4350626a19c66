"""The GitHub Action's one step (``action.yml``): plan or apply, then tell GitHub.

``action.yml`` installs the tool in a venv of its own and runs
``python -m provisioner.github`` with the inputs as ``INPUT_*`` variables
(never pasted into shell text). This module then:

- runs ``provisioner plan|apply --output json`` as a child process (its
  stderr, with every ``::add-mask::``, goes straight to the runner);
- renders the Markdown plan (and apply's results) from that one document into
  ``$GITHUB_STEP_SUMMARY``, whole;
- on a pull request, posts the plan as one comment, edited in place on every
  push (:mod:`provisioner.github.comment`);
- with ``require-reviewed-plan``, applies only the plan the merged pull
  request's comment showed (exit 5 when it changed since);
- writes the outputs ``changes``, ``exit-code``, ``plan-json`` and
  ``summary`` to ``$GITHUB_OUTPUT``.

Behaviour and every input: docs/ci.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner import __version__
from provisioner.errors import CredentialError, ProvisionerError, UsageError
from provisioner.exitcodes import MEANINGS, ExitCode
from provisioner.github.api import BOT_LOGIN, GitHub, GitHubError
from provisioner.github.comment import PLAN_BUDGET, Review, body, fit, ours
from provisioner.github.documents import DocumentError, PlanDocument, read
from provisioner.plan.review import ReviewEntry, review_entries, review_fingerprint
from provisioner.render.plan import Header, markdown_title, plan_summary, render_markdown
from provisioner.render.safe import md_code, md_text
from provisioner.secret import Secret

if TYPE_CHECKING:
    from provisioner.spec import Spec

COMMANDS = ("plan", "apply")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise UsageError(f"input {name}: expected true or false, got {raw!r}")


@dataclass(frozen=True)
class Inputs:
    """The action's inputs, read from ``INPUT_*`` (action.yml maps each one)."""

    command: str
    file: str
    url: str = ""
    token: Secret | None = None
    user_id: str = ""
    rate_limit: str = ""
    comment: bool = True
    fail_on_changes: bool = False
    require_reviewed_plan: bool = False
    github_token: Secret | None = None
    comment_author: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        def get(name: str) -> str:
            return env.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip()

        command = get("command") or "plan"
        if command not in COMMANDS:
            raise UsageError(f"input command: expected plan or apply, got {command!r}")
        user_id = get("user-id")
        if user_id and not user_id.isdigit():
            raise UsageError(f"input user-id: expected your numeric user id, got {user_id!r}")
        token, github_token = get("token"), get("github-token")
        return cls(
            command=command,
            file=get("file") or "tokens.yaml",
            url=get("url"),
            token=Secret(token) if token else None,
            user_id=user_id,
            rate_limit=get("rate-limit"),
            comment=_flag(env, "comment", True),
            fail_on_changes=_flag(env, "fail-on-changes", False),
            require_reviewed_plan=_flag(env, "require-reviewed-plan", False),
            github_token=Secret(github_token) if github_token else None,
            comment_author=get("comment-author"),
        )


@dataclass(frozen=True)
class Runner:
    """What the runner tells a step about the run (its ``GITHUB_*`` and ``RUNNER_*``)."""

    event_name: str
    event: dict[str, Any]
    repository: str
    api_url: str
    server_url: str
    sha: str
    run_id: str
    output: str
    step_summary: str
    temp: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Runner:
        event: dict[str, Any] = {}
        path = env.get("GITHUB_EVENT_PATH", "")
        if path:
            try:
                loaded = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(
                    f"GITHUB_EVENT_PATH={path}: cannot read the event ({exc})"
                ) from None
            event = loaded if isinstance(loaded, dict) else {}
        temp = env.get("RUNNER_TEMP") or env.get("TMPDIR") or "/tmp"
        return cls(
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event,
            repository=env.get("GITHUB_REPOSITORY", ""),
            api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
            server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
            sha=env.get("GITHUB_SHA", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            output=env.get("GITHUB_OUTPUT", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY", ""),
            temp=Path(temp) / "provisioner",
        )

    @property
    def pull_request(self) -> dict[str, Any] | None:
        pull = self.event.get("pull_request")
        return pull if isinstance(pull, dict) and isinstance(pull.get("number"), int) else None

    @property
    def fork(self) -> str:
        """The fork a pull request comes from ("" when it comes from this repository)."""
        pull = self.pull_request
        if pull is None:
            return ""
        head_repo = (pull.get("head") or {}).get("repo") or {}
        base_repo = (pull.get("base") or {}).get("repo") or {}
        head = str(head_repo.get("full_name") or "") if isinstance(head_repo, dict) else ""
        base = str(base_repo.get("full_name") or "") if isinstance(base_repo, dict) else ""
        base = base or self.repository
        if not head:
            return "a deleted fork"
        return head if head.lower() != base.lower() else ""

    @property
    def head_sha(self) -> str:
        """The commit planned: a pull request's head (``GITHUB_SHA`` is its test merge)."""
        head = (self.pull_request or {}).get("head")
        if isinstance(head, dict) and head.get("sha"):
            return str(head["sha"])
        return self.sha

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"


@dataclass
class Result:
    """One run of the tool: its exit code, its document and where that was saved."""

    code: int
    document: dict[str, Any] | None
    path: Path

    @property
    def error(self) -> str | None:
        """The error message when the tool failed before its document (else None)."""
        if self.document is None:
            return "provisioner printed no document; its messages are in the log above"
        error = self.document.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "failed")
        return None


def log(message: str) -> None:
    print(f"provisioner: {message}", file=sys.stderr, flush=True)


def annotate(kind: str, message: str) -> None:
    """An ``::error`` or ``::warning`` annotation (stderr: never in a document)."""
    from provisioner.cli.workflow import command

    print(command(kind, message, title="provisioner"), file=sys.stderr, flush=True)


class Step:
    """One run of the action."""

    def __init__(
        self,
        inputs: Inputs,
        runner: Runner,
        env: Mapping[str, str],
        *,
        python: str = sys.executable,
    ) -> None:
        self.inputs = inputs
        self.runner = runner
        self.env = env
        self.python = python
        self.runner.temp.mkdir(parents=True, exist_ok=True)
        self.slug = re.sub(r"[^A-Za-z0-9._-]+", "_", inputs.file).strip("._") or "tokens"
        self._github: GitHub | None = None
        self._author: str | None = None

    # ------------------------------------------------------------------ the two commands

    def run(self) -> int:
        from provisioner.cli.workflow import add_mask

        add_mask([s for s in (self.inputs.token, self.inputs.github_token) if s], env=self.env)
        try:
            self._check_credential()
            return self.plan() if self.inputs.command == "plan" else self.apply()
        except ProvisionerError as exc:
            self.outputs_code(exc.exit_code)
            raise
        finally:
            if self._github is not None:
                self._github.close()

    def plan(self) -> int:
        result = self.tool(["plan", "--detailed-exitcode"], "plan")
        pull = self.runner.pull_request if self.inputs.comment else None
        if result.error is not None:
            self._failed("plan", result)
            if pull is not None:
                self._comment_failure(pull["number"], result)
            return result.code
        parsed = self._read(result)
        entries, fingerprint = self._fingerprint(parsed)
        markdown, line = self._publish(parsed, result, "plan")
        code = result.code
        if code == ExitCode.CHANGES_PENDING and not self.inputs.fail_on_changes:
            code = ExitCode.OK
        if pull is not None:
            review = Review(
                file=self.inputs.file,
                sha=self.runner.head_sha,
                fingerprint=fingerprint,
                counts=parsed.plan.counts(),
                entries=tuple(entries),
            )
            visible = self._visible_plan(parsed, markdown, line, fingerprint)
            if not self.comment(pull["number"], review, visible) and code == ExitCode.OK:
                code = ExitCode.ERROR
        return code

    def apply(self) -> int:
        args = ["apply", "--yes"]
        if self.inputs.require_reviewed_plan:
            reviewed = self.reviewed_plan()
            if isinstance(reviewed, int):
                return reviewed
            args = ["apply", str(reviewed), "--yes"]
        result = self.tool(args, "apply")
        if result.error is not None:
            self._failed("apply", result)
            return result.code
        self._publish(self._read(result), result, "apply")
        return result.code

    def _publish(
        self, parsed: PlanDocument, result: Result, command: str, *, summarize: bool = True
    ) -> tuple[str, str]:
        """The plan (and an apply's results) in Markdown, appended to the job summary unless
        told not to, and the step's outputs set; returns the Markdown and the summary line."""
        markdown = render_markdown(
            parsed.plan, parsed.header, parsed.violations, command=command, limit=None
        )
        if parsed.report is not None and parsed.plan.has_changes:
            from provisioner.render.report import render_markdown as report_markdown

            markdown += "\n" + report_markdown(parsed.report)
        if summarize:
            self.summary(markdown)
        line = plan_summary(parsed.plan, bool(parsed.violations))
        self.outputs(
            changes=parsed.plan.has_changes, code=result.code, path=result.path, summary=line
        )
        return markdown, line

    def _fingerprint(self, parsed: PlanDocument) -> tuple[list[ReviewEntry], str]:
        """What a review approves of the plan, entry by entry, and its one fingerprint."""
        entries = review_entries(parsed.plan, self._spec())
        return entries, review_fingerprint(entries)

    # ------------------------------------------------------------------ reviewed plans

    def reviewed_plan(self) -> Path | int:
        """The saved plan to apply when it is the reviewed one; else the exit code (4, 5 or
        the plan's own failure), with the reason in the log and the job summary."""
        from provisioner.github import review

        saved = self.runner.temp / f"reviewed-{self.slug}.plan.json"
        saved.unlink(missing_ok=True)
        result = self.tool(["plan", "--out", str(saved)], "plan")
        if result.error is not None:
            self._failed("apply", result)
            return result.code
        parsed = self._read(result)
        refused = result.code != ExitCode.OK  # refused (4): apply would refuse it as well
        markdown, _ = self._publish(parsed, result, "plan", summarize=refused)
        if refused:
            return result.code
        if not parsed.plan.has_changes:
            log("the plan has no changes: nothing to review, nothing written")
            return saved
        entries, fingerprint = self._fingerprint(parsed)
        found = review.find(self.github(), self.runner.sha, self.inputs.file, self.author())
        if isinstance(found, str):
            return self._refuse(ExitCode.REFUSED, found, [], markdown)
        if found.review.fingerprint == fingerprint:
            log(
                f"the plan is the one reviewed on {found.where} (fingerprint {fingerprint}, "
                f"planned at {found.review.sha[:7] or 'an unknown commit'}); applying it"
            )
            return saved
        lines = review.differences(found.review, entries)
        message = review.stale_message(found, fingerprint, len(lines))
        return self._refuse(ExitCode.STALE_PLAN, message, lines, markdown)

    def _refuse(self, code: int, message: str, lines: list[str], markdown: str) -> int:
        """Nothing applied: why, in the log (names escaped), the job summary and exit-code."""
        from provisioner.render.safe import fence, text

        annotate("error", message)
        for line in lines:
            log(f"  {text(line)}")
        head = Header(file=self.inputs.file, url="")
        out = [markdown_title("apply", head), "", f"> **Refused:** {md_text(message)}"]
        if lines:
            out += ["", *fence(lines, "diff")]
        out += ["", "The plan now:", "", markdown]
        self.summary("\n".join(out))
        self.outputs_code(code)
        return code

    # ------------------------------------------------------------------ the tool

    def tool(self, args: list[str], what: str) -> Result:
        """``provisioner ARGS -f FILE --output json`` in a child process; stderr passes."""
        path = self.runner.temp / f"{what}-{self.slug}.json"
        argv = [self.python, "-m", "provisioner", *args, "-f", self.inputs.file]
        argv += ["--output", "json"]
        log(f"provisioner {' '.join(args)} -f {self.inputs.file} --output json")
        with open(path, "w", encoding="utf-8") as out:
            proc = subprocess.run(
                argv, stdout=out, stdin=subprocess.DEVNULL, env=self._child_env(), check=False
            )
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            document = None
        return Result(proc.returncode, document if isinstance(document, dict) else None, path)

    def _child_env(self) -> dict[str, str]:
        """The runner's environment with the inputs as the tool's variables. The child
        writes no step summary (this step writes it whole) and sees no ``INPUT_*``."""
        env = {
            k: v
            for k, v in self.env.items()
            if not k.startswith("INPUT_") and k != "GITHUB_STEP_SUMMARY"
        }
        if self.inputs.token is not None:
            env["NEWAPI_TOKEN"] = self.inputs.token.reveal()
        if self.inputs.url:
            env["NEWAPI_URL"] = self.inputs.url
        if self.inputs.user_id:
            env["NEWAPI_USER_ID"] = self.inputs.user_id
        if self.inputs.rate_limit:
            env["PROVISIONER_RATE_LIMIT"] = self.inputs.rate_limit
        env.setdefault("CI", "true")
        return env

    def _check_credential(self) -> None:
        if self.inputs.token is not None or any(
            self.env.get(name, "").strip() for name in ("NEWAPI_TOKEN", "NEWAPI_TOKEN_FILE")
        ):
            return
        fork = self.runner.fork
        if fork:
            message = (
                f"no management credential: this pull request comes from {fork}, and GitHub "
                "gives the workflows of pull requests from forks no secrets. That is on "
                "purpose: the workflow runs on pull_request, not pull_request_target, which "
                "would hand your credential to the fork's code. A maintainer can push the "
                "branch to this repository to get it planned"
            )
        else:
            message = (
                "no management credential: the token input is empty and NEWAPI_TOKEN is not "
                "set. Pass it from a secret: `token: ${{ secrets.NEWAPI_TOKEN }}` (the "
                "dashboard's system access token, never an sk- key)"
            )
        self.outputs(changes=False, code=ExitCode.AUTH, path=None, summary="")
        self.summary(f"### provisioner {self.inputs.command}\n\n**{md_text(message)}**\n")
        raise CredentialError(message)

    # ------------------------------------------------------------------ GitHub

    def github(self) -> GitHub:
        if self._github is None:
            token = self.inputs.github_token
            if token is None:
                raise UsageError(
                    "input github-token is empty: the comment and the reviewed-plan check need "
                    "it (its default is the job's GITHUB_TOKEN)"
                )
            if not self.runner.repository:
                raise UsageError("GITHUB_REPOSITORY is not set: not a GitHub Actions run?")
            self._github = GitHub(
                self.runner.api_url, self.runner.repository, token, fork=bool(self.runner.fork)
            )
        return self._github

    def author(self) -> str:
        """Whose comments are ours: ``comment-author``, else the token's own user, else
        ``github-actions[bot]`` (``GITHUB_TOKEN``: GitHub does not say who it is)."""
        if self._author is None:
            self._author = self.inputs.comment_author or self.github().login() or BOT_LOGIN
        return self._author

    def comment(self, number: int, review: Review, visible: str) -> bool:
        """Post or edit the plan comment; False (with an annotation) when GitHub refused."""
        text = body(self.inputs.file, review, visible)
        try:
            github = self.github()
            existing = ours(github.comments(number), self.inputs.file, self.author())
            if existing is None:
                made = github.create_comment(number, text)
                log(f"posted the plan on pull request #{number}: {made.url or made.id}")
            elif existing.body.strip() == text.strip():
                log(f"the plan comment on pull request #{number} is up to date: {existing.url}")
            else:
                edited = github.update_comment(existing.id, text)
                log(f"updated the plan comment on pull request #{number}: {edited.url}")
        except (GitHubError, UsageError) as exc:
            annotate("error", f"the plan could not be commented: {exc}")
            return False
        return True

    def _comment_failure(self, number: int, result: Result) -> None:
        """A plan that failed replaces the last plan shown: a stale plan never stays up."""
        review = Review(self.inputs.file, self.runner.head_sha, "", failed=result.error or "")
        meaning = MEANINGS.get(ExitCode(result.code), "") if result.code in set(ExitCode) else ""
        visible = "\n".join(
            [
                f"### provisioner plan: {md_code(self.inputs.file, cell=False)}",
                "",
                f"> **The plan failed** (exit {result.code}{f': {meaning}' if meaning else ''}): "
                f"{md_text(result.error or '')}",
                "",
                self._footer(""),
            ]
        )
        self.comment(number, review, visible)

    def _visible_plan(self, parsed: PlanDocument, markdown: str, line: str, fp: str) -> str:
        plan = parsed.plan
        if not plan.has_changes and not plan.conflicts and not parsed.violations:
            # one line: nothing to review
            return (
                f"**provisioner plan** {md_code(self.inputs.file, cell=False)}: "
                f"{md_text(line)} {self._footer(fp)}"
            )
        where = (
            f"[the job summary]({self.runner.run_url})"
            if self.runner.run_url
            else "the job summary"
        )
        return fit(markdown, PLAN_BUDGET, where) + "\n" + self._footer(fp)

    def _footer(self, fingerprint: str) -> str:
        parts = []
        if self.runner.head_sha:
            parts.append(f"commit {self.runner.head_sha[:7]}")
        if fingerprint:
            parts.append(f"plan fingerprint {fingerprint}")
        if self.runner.run_url:
            parts.append(f"[run {self.runner.run_id}]({self.runner.run_url})")
        parts.append(f"provisioner {__version__}")
        return "<sub>" + " · ".join(parts) + "</sub>"

    # ------------------------------------------------------------------ outputs

    def summary(self, markdown: str) -> None:
        """Append to the job summary, whole while it fits GitHub's 1 MiB."""
        from provisioner.cli.workflow import append_step_summary

        path = self.runner.step_summary
        if not path:
            return
        where = "the file the `plan-json` output names"

        def shorter(room: int) -> str:  # fit() counts characters: 4 bytes at most each
            short = (
                fit(markdown, room // 4, where)
                if room > 8_000
                else f"*(provisioner: the job summary is full; the plan is in {where})*"
            )
            return short.rstrip("\n") + "\n\n"

        # a block of its own; 1,000 bytes kept for the steps after this one
        append_step_summary(path, markdown.rstrip("\n") + "\n\n", shorter, headroom=1_000)

    def outputs(self, *, changes: bool, code: int, path: Path | None, summary: str) -> None:
        self._write_outputs(
            {
                "changes": "true" if changes else "false",
                "exit-code": str(int(code)),
                "plan-json": str(path) if path is not None else "",
                "summary": summary,
            }
        )

    def outputs_code(self, code: int) -> None:
        self._write_outputs({"exit-code": str(int(code))})

    def _write_outputs(self, values: dict[str, str]) -> None:
        if not self.runner.output:
            return
        with open(self.runner.output, "a", encoding="utf-8") as handle:
            for name, value in values.items():
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    # ------------------------------------------------------------------ helpers

    def _read(self, result: Result) -> PlanDocument:
        assert result.document is not None
        try:
            return read(result.document)
        except DocumentError as exc:
            raise ProvisionerError(f"{result.path}: {exc}") from None

    def _failed(self, command: str, result: Result) -> None:
        message = result.error or "failed"
        self.outputs(changes=False, code=result.code, path=result.path, summary="")
        self.summary(
            f"### provisioner {command}: {md_code(self.inputs.file, cell=False)}\n\n"
            f"**Failed (exit {result.code}):** {md_text(message)}\n"
        )

    def _spec(self) -> Spec | None:
        """The spec as loaded, to tell relative expiries apart; None if it does not load
        (the plan failed then, and said why)."""
        from provisioner.spec import SpecError, load_spec

        try:
            return load_spec(self.inputs.file)
        except SpecError:
            return None


def main(env: Mapping[str, str] | None = None) -> int:
    """The step: read the inputs and the runner's variables, run, return the exit code."""
    env = os.environ if env is None else env
    try:
        step = Step(Inputs.from_env(env), Runner.from_env(env), env)
        return step.run()
    except ProvisionerError as exc:
        annotate("error", str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: say so plainly, with the traceback for the report
        import traceback

        traceback.print_exc()
        annotate(
            "error",
            f"internal error ({type(exc).__name__}); this is a bug, please report it with "
            "this job's log",
        )
        return int(ExitCode.ERROR)
