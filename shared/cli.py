"""The ``ddcompat`` command line.

``check`` and ``matrix show`` live here; the webhook and the scanner add their own
subcommands through the ``ddcompat.commands`` entry-point group, so the core never
imports a front end.

Exit status of ``check``: 0 no finding at or above ``--fail-on``, 1 such findings,
2 usage errors or unreadable input (every readable file is still reported).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ddcompat.shared import about, gc_pause, html_report, model, policy, report, signals, versions
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import settings as settings_mod
from ddcompat.shared.facts import FactSource
from ddcompat.shared.images import options as image_options
from ddcompat.shared.parsers import compose
from ddcompat.shared.sources import aws_options as aws_flags
from ddcompat.shared.sources import files
from ddcompat.shared.text import printable

if TYPE_CHECKING:
    from ddcompat.shared.facts.injection import Instrumentation
    from ddcompat.shared.images import inspector as inspector_mod
    from ddcompat.shared.sources import aws as aws_mod

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
ENTRY_POINT_GROUP = "ddcompat.commands"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"ddcompat {about.version()}\n")
        parser.exit()


def run_check(
    paths: Sequence[str],
    m: matrix_mod.Matrix,
    pol: policy.Policy,
    excludes: Sequence[str] = (),
    *,
    as_of: datetime.date | None = None,
    env_files: Sequence[str] = (),
    helm_options: files.HelmOptions = files.NO_HELM,
    images: inspector_mod.Inspector | None = None,
    aws_options: aws_mod.Options | None = None,
    ignore_unknown: bool = False,
    injection: Instrumentation | None = None,
) -> report.Run:
    # this run's judge: its caches (what each template says, what each set of facts
    # gives), and the sources of facts this run can feed (cluster-wide injection, the
    # image inspector)
    sources: list[FactSource] = []
    if injection is not None:
        from ddcompat.shared.facts.injection import InjectionSource

        sources.append(InjectionSource(injection))
    if images is not None:
        from ddcompat.shared.facts.image import ImageSource

        sources.append(ImageSource(images))
    judge = judge_mod.Judge(m, pol, as_of=as_of, sources=sources)
    with gc_pause.paused():
        parsed = files.collect(
            paths,
            excludes,
            reader=judge.reader,
            compose_options=compose.Options(env_files=tuple(env_files)),
            helm_options=helm_options,
            ignore_unknown=ignore_unknown,
        )
        if aws_options is not None:
            # live AWS fleets (--aws-region): each region on its own
            from ddcompat.shared.sources import aws as aws_mod

            for region in aws_mod.read(aws_options):
                parsed.extend(region.parsed)
                parsed.errors.extend(
                    model.InputError(f"aws/{region.account}/{region.region}", message, service)
                    for service, _, message in region.errors
                )
                parsed.errors.extend(
                    model.InputError(e.source, e.message, e.service) for e in region.resource_errors
                )
        if images is not None:
            # what each image says, read from its registry (--inspect-images) into the
            # inspector's caches, where the judge's image source finds it
            from ddcompat.shared.images import inspector as inspector_mod

            parsed.warnings.extend(inspector_mod.inspect_workloads(parsed.workloads, images))
        results = judge.judge_all(parsed.workloads)
    return report.Run(
        as_of=judge.day(),
        matrix=m,
        results=results,
        errors=parsed.errors,
        skipped_containers=parsed.skipped_containers,
        ignored_files=tuple(parsed.ignored_files),
        not_python=tuple(parsed.not_python),
        warnings=tuple(parsed.warnings),
        kinds_not_understood=tuple(parsed.kinds_not_understood),
    )


# --format: each output format and how a run is rendered in it (the choices are this table)
OUTPUT_FORMATS: dict[str, Callable[[report.Run, argparse.Namespace], bytes]] = {
    "table": lambda run, args: report.render_table(run, verbose=args.verbose).encode(),
    "json": lambda run, args: report.render_json_bytes(run),
    "sarif": lambda run, args: report.render_sarif(run, about.version()).encode(),
    "junit": lambda run, args: report.render_junit(run).encode(),
    "html": lambda run, args: html_report.render(run, title="ddcompat check").encode(),
}


def _cmd_check(args: argparse.Namespace) -> int:
    if not args.paths and not args.aws_region:
        raise settings_mod.ConfigError("check: give a PATH, or --aws-region")
    settings = settings_mod.from_arguments(args)
    m, pol = settings.matrix, settings.policy
    # One pause for the whole command: a collection between reading and rendering would
    # walk every object of the report for nothing (the process ends right after).
    with gc_pause.paused():
        run = run_check(
            args.paths,
            m,
            pol,
            args.exclude,
            as_of=settings.as_of,
            env_files=args.env_file,
            helm_options=files.HelmOptions(args.helm_render, args.helm),
            images=_images(args),
            aws_options=aws_flags.from_arguments(args),
            ignore_unknown=args.ignore_unknown,
            injection=_injection(args.datadog_values),
        )
        run = msgspec.structs.replace(
            run, fail_on=args.fail_on, fail_on_unverified=args.fail_on_unverified
        )
        fmt = args.format or ("table" if sys.stdout.isatty() else "json")
        data = OUTPUT_FORMATS[fmt](run, args)
        if args.output:
            Path(args.output).write_bytes(data)
        else:
            _write_stdout(data)
        # Left to the collector, the report's objects would get one long pass as soon as
        # it is back on; they are freed by reference counting as they go.
        gc.freeze()
    for warning in run.warnings:
        print(f"ddcompat: warning: {printable(str(warning))}", file=sys.stderr)
    for err in run.errors:
        print(f"ddcompat: error: {printable(str(err))}", file=sys.stderr)
    if run.errors:
        return EXIT_USAGE
    if not run.results:
        # CI that checked nothing must not pass unnoticed
        print(
            "ddcompat: no workload found: nothing was checked ("
            f"{len(run.ignored_files)} files ignored, {len(run.not_python)} containers not "
            f"Python{', -v lists them' if not args.verbose else ''})"
            + ("" if args.fail_if_empty else "; --fail-if-empty makes this exit 1"),
            file=sys.stderr,
        )
        if args.fail_if_empty:
            return EXIT_FINDINGS
    return EXIT_FINDINGS if run.failed() else EXIT_OK


def _injection(path: str | None) -> Instrumentation | None:
    """The Datadog Agent's Single Step Instrumentation settings (--datadog-values)."""
    if path is None:
        return None
    from ddcompat.shared import parsers
    from ddcompat.shared.facts import injection
    from ddcompat.shared.parsers import _common

    try:
        # the descriptors' own bounded reader (file size, alias expansion, nesting)
        text = _common.decode_text(_common.read_regular(path))
        docs = parsers.load_documents(text, ".yaml")
        return injection.read(docs[0] if docs else {}, path)
    except (OSError, _common.NotAFile) as exc:
        raise settings_mod.ConfigError(f"--datadog-values {path}: cannot read: {exc}") from None
    except (UnicodeDecodeError, parsers.YAMLProblem, RecursionError) as exc:
        raise settings_mod.ConfigError(f"--datadog-values {path}: not YAML: {exc}") from None
    except injection.ConfigError as exc:
        raise settings_mod.ConfigError(f"--datadog-values {exc}") from None


def _images(args: argparse.Namespace) -> inspector_mod.Inspector | None:
    try:
        return image_options.from_arguments(args, f"ddcompat/{about.version()}")
    except image_options.OptionsError as exc:
        raise settings_mod.ConfigError(str(exc)) from None


def _write_stdout(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (tests, embedding)
        sys.stdout.write(data.decode())
        return
    sys.stdout.flush()
    out.write(data)
    out.flush()


def _cmd_matrix_show(args: argparse.Namespace) -> int:
    m = settings_mod.from_arguments(args).matrix
    if args.feature is not None:
        m = report.matrix_for_feature(m, args.feature)
    if args.format == "json":
        import json

        data = {
            "name": m.name,
            "version": m.version,
            "edition": m.edition,
            "known": msgspec.to_builtins(m.known) if m.known is not None else None,
            **{
                section: [msgspec.to_builtins(row) for row in getattr(m, section)]
                for section in matrix_mod.SECTIONS
            },
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(report.render_matrix(m))
    return EXIT_OK


def _cmd_matrix_query(args: argparse.Namespace) -> int:
    from ddcompat.shared import evaluator, fixes

    settings = settings_mod.from_arguments(args)
    finder = fixes.Finder(evaluator.Evaluator(settings.matrix, as_of=settings.as_of))
    if args.python is not None and versions.python_minor(args.python) is None:
        raise settings_mod.ConfigError(f"--python: {args.python!r} is not X.Y (3.12)")
    pythons = (
        [args.python]
        if args.python
        else [
            f"{a}.{b}"
            for a, b in sorted(
                {py for _, _, pys in settings.matrix.runtime_intervals for py in pys}
            )
            if a >= 3
        ]
    )
    answers = [
        fixes.query(
            finder,
            args.feature,
            py,
            args.os,
            signals.normalize_arch(args.arch),
            args.deployment,
        )
        for py in pythons
    ]
    if args.format == "json":
        import json

        data = [report.query_json(a) for a in answers]
        out = data[0] if args.python else {"feature": args.feature, "answers": data}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(report.render_query(answers))
    return EXIT_OK


Handler = Callable[[argparse.Namespace], int]


BUILTIN_COMMANDS = ("check", "matrix")


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddcompat",
        description="Check ddtrace/Python compatibility of Application Security features.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="check deployment descriptors (files or directories)")
    check.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (optional with --aws-region)"
    )
    check.add_argument(
        "--format",
        choices=tuple(OUTPUT_FORMATS),
        default=None,
        help="output format (default: table on a terminal, json otherwise)",
    )
    check.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        default="error",
        help="lowest severity that makes a workload noncompliant and the exit status 1 "
        "(default: error)",
    )
    check.add_argument(
        "--fail-if-empty",
        action="store_true",
        help="exit 1 when no workload is found (a CI job that checked nothing fails)",
    )
    check.add_argument(
        "--fail-on-unverified",
        action="store_true",
        help="unverified workloads (a feature that could not be decided) fail the run too",
    )
    settings_mod.add_arguments(check)
    check.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="skip files matching this glob in directory walks (repeatable)",
    )
    check.add_argument(
        "-o", "--output", metavar="FILE", help="write the report here instead of stdout"
    )
    check.add_argument(
        "--env-file",
        metavar="FILE",
        action="append",
        default=[],
        help="docker-compose: read interpolation variables from this file instead of the "
        ".env beside each compose file (repeatable, as `docker compose --env-file`)",
    )
    check.add_argument(
        "--helm-render",
        action="store_true",
        help="render each Helm chart found in a directory walk with `helm template` and "
        "check its output (without it, chart templates are skipped and listed)",
    )
    check.add_argument(
        "--helm",
        metavar="PATH",
        help="the helm binary for --helm-render (default: $DDCOMPAT_HELM, or helm on PATH)",
    )
    image_options.add_arguments(check, what="off by default: CI may have no registry access")
    aws_flags.add_arguments(check, what="also read")
    check.add_argument(
        "--datadog-values",
        metavar="FILE",
        help="the Datadog Agent's cluster-wide injection settings (the datadog chart's "
        "values, or a DatadogAgent resource): the workloads a Single Step Instrumentation "
        "target selects get its tracer version and AppSec switches",
    )
    check.add_argument(
        "--ignore-unknown",
        action="store_true",
        help="files named on the command line that are no deployment descriptor are ignored "
        "(listed) instead of errors, as in a directory walk (the pre-commit hook)",
    )
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="table: also list the containers skipped as not Python and the files ignored",
    )
    check.set_defaults(handler=_cmd_check)

    mx = sub.add_parser("matrix", help="the compatibility matrix")
    mx_sub = mx.add_subparsers(dest="matrix_command", required=True, metavar="ACTION")
    show = mx_sub.add_parser("show", help="print the matrix in force")
    settings_mod.add_arguments(show, policy=False)
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.add_argument(
        "feature",
        nargs="?",
        choices=typing.get_args(model.FeatureId),
        help="only this feature's rows (runtime rows hold for every feature)",
    )
    show.set_defaults(handler=_cmd_matrix_show)

    query = mx_sub.add_parser(
        "query",
        help="the smallest ddtrace (and Lambda layer) that supports a feature on a runtime",
    )
    settings_mod.add_arguments(query, policy=False)
    query.add_argument(
        "--feature", required=True, choices=typing.get_args(model.FeatureId), help="feature id"
    )
    query.add_argument(
        "--python",
        metavar="X.Y",
        help="the workload's Python (default: every Python the matrix knows)",
    )
    query.add_argument("--os", default="linux", choices=("linux", "darwin", "windows"))
    query.add_argument("--arch", default="amd64", help="amd64, arm64 or 386 (default amd64)")
    query.add_argument(
        "--deployment",
        default="kubernetes",
        choices=typing.get_args(model.DeploymentType),
        help="deployment type (lambda: the Datadog layer too)",
    )
    query.add_argument("--format", choices=("table", "json"), default="table")
    query.set_defaults(handler=_cmd_matrix_query)

    if plugins:
        import importlib.metadata

        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                register = ep.load()
            except ImportError as exc:  # a server front end without its extra installed
                _missing_extra(sub, ep.name, exc)
                continue
            register(sub)
    _remember_parsers(parser)
    return parser


def _missing_extra(sub: Any, name: str, exc: ImportError) -> None:
    """A subcommand whose libraries are not installed: it says which extra brings them."""
    missing = exc.name or str(exc)

    def handler(args: argparse.Namespace) -> int:
        print(
            f"ddcompat {name}: needs the server libraries ({missing} is not installed): "
            "pip install 'ddcompat[server]'",
            file=sys.stderr,
        )
        return EXIT_USAGE

    p = sub.add_parser(name, help="(not installed: pip install 'ddcompat[server]')")
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(handler=handler)


def _unrecognised(sub: argparse.ArgumentParser, extra: list[str]) -> None:
    """Unknown arguments, said under the subcommand's own usage, with the option meant."""
    import difflib

    known = [o for a in sub._actions for o in a.option_strings]
    words = []
    for e in extra:
        close = difflib.get_close_matches(e.split("=", 1)[0], known, n=1, cutoff=0.6)
        words.append(f"{e} (did you mean {close[0]}?)" if close and e.startswith("-") else e)
    sub.error("unrecognized arguments: " + " ".join(words))


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's parser, so that its own usage reports an unknown argument."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _remember_parsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Scanning entry points costs start-up time that the built-in commands do not need.
    parser = build_parser(plugins=not (argv and argv[0] in BUILTIN_COMMANDS))
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unrecognised(getattr(args, "_parser", parser), extra)
    handler: Handler = args.handler
    try:
        return handler(args)
    except settings_mod.ConfigError as exc:
        print(f"ddcompat: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
