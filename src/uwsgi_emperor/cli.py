"""uwsgi-ensite, uwsgi-dissite, uwsgi-query: a thin shell around sites.py.

uwsgi-ensite and uwsgi-dissite are one program driven by a table (SITE_COMMANDS), as
a2enmod is: what differs between them is data there, never a test of the program's name.

Kept light on purpose: `uwsgi-ensite -q app` runs in package maintainer scripts and must start
fast, so nothing heavy (jinja2) is imported on this path.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from . import metrics, names, paths, sites, status
from . import wait
from .wait import DEFAULT_TIMEOUT

EPILOG_ENV = (
    "environment: UWSGI_CONFDIR and UWSGI_STATEDIR override the default directories "
    "(the options win over them); UWSGI_RUNDIR, UWSGI_EMPEROR_RUNDIR, UWSGI_LOGDIR and "
    "UWSGI_BIN move the apps' run directory, the Emperor's run directory, the log "
    "directory and the uwsgi binary."
)
HINT = (
    "The emperor picks the change up by itself within its scan interval (about a second); "
    "no reload is needed."
)
# Debian's own uwsgi package (the helpers alone, python3-uwsgi-ensite) has no Emperor
# watching apps-enabled: its init script starts what is enabled when it starts.
DEBIAN_HINT = "Debian's uwsgi runs the enabled apps when it starts: /etc/init.d/uwsgi restart"
HINTS = {paths.Flavour.EMPEROR: HINT, paths.Flavour.DEBIAN: DEBIAN_HINT}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_NOT_RUNNING = 3  # uwsgi-query --status: an app shown is not running (systemctl's 3)


def hint(environ=os.environ):
    """What happens next, for the uWSGI this host runs."""
    return HINTS[paths.flavour(environ)]


def _common(parser):
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument(
        "-m",
        "--maintmode",
        action="store_true",
        help="maintainer-script mode: record the change as made by a package, and never "
        "enable an app the administrator disabled",
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="show what would be done, change nothing"
    )
    parser.add_argument(
        "--confdir",
        metavar="DIR",
        help=f"configuration directory holding {paths.AVAILABLE}/ and {paths.ENABLED}/ "
        f"(default: $UWSGI_CONFDIR or {paths.CONFDIR})",
    )
    parser.add_argument(
        "--statedir",
        metavar="DIR",
        help=f"where who-enabled-what markers are kept (default: $UWSGI_STATEDIR or {paths.STATEDIR})",
    )


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"seconds must be more than 0 and less than a day: {text!r}")
    return value


@dataclass(frozen=True)
class SiteCommand:
    """One row of the table: everything that tells uwsgi-ensite from uwsgi-dissite."""

    prog: str
    verb: str  # what it does to an app, in prompts and messages: "enable"
    state: str  # what every app named ends as, for the exit status: "enabled"
    names_from: str  # the directory under the confdir whose apps are offered and globbed
    description: str
    act: Callable  # (confdir, statedir, name, args) -> sites.Outcome; raises sites.Refused
    options: Callable  # (parser) -> None: the options of this command alone
    # Refuses what argparse cannot express (an option that needs another): (parser, args) ->
    # None, or parser.error(), a usage error like any other.
    check_options: Optional[Callable] = None
    # What follows the actions: (command, args, confdir, names acted on without an error,
    # stdout) -> exit status.
    then: Optional[Callable] = None


def _wait_options(parser):
    # A flag and a separate value, never an option with an optional value: `--wait app1`
    # must leave app1 a name (argparse would take it as the value, see cpython#126374).
    parser.add_argument(
        "--wait",
        action="store_true",
        help="after enabling, wait until the emperor has each app up (see --timeout); on "
        "failure show the end of the app's log and exit 1",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"with --wait: how long to wait for each app (default: {DEFAULT_TIMEOUT:g} s); "
        "replaces --wait=SECONDS",
    )


def _check_wait_options(parser, args):
    if args.timeout is not None and not args.wait:
        parser.error("--timeout needs --wait")


def _purge_option(parser):
    parser.add_argument(
        "-p",
        "--purge",
        action="store_true",
        help="also forget who enabled or disabled the app, so a package may enable it again",
    )


def _enable(confdir, statedir, name, args):
    return sites.enable(confdir, statedir, name, maint=args.maintmode, dry_run=args.dry_run)


def _disable(confdir, statedir, name, args):
    return sites.disable(
        confdir, statedir, name, maint=args.maintmode, purge=args.purge, dry_run=args.dry_run
    )


def _wait_for(command, args, confdir, acted, stdout):
    """uwsgi-ensite --wait: each app now linked is up, or say why not."""
    if not args.wait or args.dry_run:
        return EXIT_OK
    status = EXIT_OK
    for name in [n for n in acted if os.path.lexists(sites.enabled_path(confdir, n))]:
        result = wait.wait_up(
            name,
            ini=sites.available_path(confdir, name),
            rundir=paths.rundir(),
            logdir=paths.logdir(),
            stats_path=paths.stats_socket(),
            pidfile=paths.emperor_pidfile(),
            timeout=args.timeout or DEFAULT_TIMEOUT,
            uwsgi=paths.uwsgi_bin(),
        )
        if result.ok:
            _info(args, result.message, stdout)
            continue
        _error(command.prog, result.message)
        for line in result.log_tail:
            print(f"  {line}", file=sys.stderr)
        status = EXIT_FAILED
        if result.reason is wait.Reason.NO_EMPEROR:
            break  # the same for every other app
    return status


ENSITE = SiteCommand(
    prog="uwsgi-ensite",
    verb="enable",
    state="enabled",
    names_from=paths.AVAILABLE,
    description=(
        f"Enable uWSGI apps: link {paths.AVAILABLE}/NAME.ini into {paths.ENABLED}/ so the "
        "uWSGI Emperor starts it as a vassal. The ini is checked first: UTF-8, a [uwsgi] "
        "section, nothing uWSGI would run while reading it, socket paths that fit, and no "
        "option the packaged uwsgi does not know (not checked with -n, which runs no uwsgi). "
        "With no NAME on a terminal, lists the apps and asks which to enable."
    ),
    act=_enable,
    options=_wait_options,
    check_options=_check_wait_options,
    then=_wait_for,
)
DISSITE = SiteCommand(
    prog="uwsgi-dissite",
    verb="disable",
    state="disabled",
    names_from=paths.ENABLED,
    description=(
        f"Disable uWSGI apps: remove their link from {paths.ENABLED}/ so the uWSGI Emperor "
        "stops the vassal. Dangling links are removed too; a regular file is never touched. "
        "With no NAME on a terminal, lists the enabled apps and asks which to disable."
    ),
    act=_disable,
    options=_purge_option,
)
SITE_COMMANDS = {"ensite": ENSITE, "dissite": DISSITE}


def site_parser(command):
    """The ArgumentParser of a SiteCommand (no side effects: man pages are built from it)."""
    parser = argparse.ArgumentParser(
        prog=command.prog,
        allow_abbrev=False,
        description=command.description,
        epilog=(
            f"exit status: 0 when every app ended {command.state} (already {command.state} "
            "counts), 1 when any failed (the others are still done), 2 for a usage error. "
            + EPILOG_ENV
        ),
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME|GLOB",
        help=f"app name (a trailing .ini is ignored) or a quoted glob matched in {command.names_from}/",
    )
    _common(parser)
    command.options(parser)
    return parser


def ensite_parser():
    """The ArgumentParser of uwsgi-ensite (no side effects: man pages are built from it)."""
    return site_parser(ENSITE)


def dissite_parser():
    """The ArgumentParser of uwsgi-dissite (no side effects: man pages are built from it)."""
    return site_parser(DISSITE)


def _threshold(most=None, what="a number"):
    """An argparse type: a whole number from 0 (to MOST), or 'none' (no threshold)."""
    def parse(text):
        if text == "none":
            return None
        if not text.isdigit():
            raise argparse.ArgumentTypeError(f"not a whole number nor 'none': {text!r}")
        if most is not None and int(text) > most:
            raise argparse.ArgumentTypeError(f"{what} is at most {most}: {text!r}")
        return int(text)
    return parse


# --check's thresholds: (option, Thresholds field, type, what it counts). A threshold N
# alerts when the count is above N (monitoring-plugins' range "N"); "none" turns it off.
_COUNT, _PERCENT = _threshold(), _threshold(100, "a percentage")
CHECK_THRESHOLDS = (
    ("--warn-down", "warn_down", _COUNT, "enabled apps down (stopped, crash-looping, refused)"),
    ("--crit-down", "crit_down", _COUNT, "enabled apps down"),
    ("--warn-crashloop", "warn_crashloop", _COUNT, "apps crash-looping"),
    ("--crit-crashloop", "crit_crashloop", _COUNT, "apps crash-looping"),
    ("--warn-busy", "warn_busy", _PERCENT, "the percentage of one app's workers busy"),
    ("--crit-busy", "crit_busy", _PERCENT, "the percentage of one app's workers busy"),
)


def query_parser():
    """The ArgumentParser of uwsgi-query (no side effects: man pages are built from it)."""
    parser = argparse.ArgumentParser(
        prog="uwsgi-query",
        allow_abbrev=False,
        description=(
            "Tell whether a uWSGI app is enabled, and who enabled or disabled it (as a2query "
            "-s); with --status, how every app is doing (state, pid, uptime, workers, "
            "requests, exceptions, response time, memory, respawns, zergs, listen queue, "
            "and the end of the log of an app that is down); with --check, the same as a "
            "monitoring-plugins check (Nagios, Icinga); with --metrics, as Prometheus "
            "metrics for the node exporter's textfile collector. States: running (accepting "
            f"for {status.STEADY:g} s), starting, crash-looping (exited twice or more before "
            "serving a request, the Emperor throttles it), stopped (enabled, not run), "
            "refused ini (uwsgi would not run it), disabled. The state, pid, uptime, memory "
            "and listen queue come from the Emperor and the kernel; workers and requests from "
            f"the app's own stats server ({paths.RUNDIR}/NAME{status.STATS_SUFFIX}), read only "
            "when its listener is the app's master. Needs root."
        ),
        epilog=(
            "exit status: 0 enabled, 1 not found or not enabled, 32 disabled by the site "
            "administrator, 33 disabled by a maintainer script, 2 for a usage error. "
            "--status: 0 when every app shown that is enabled is running, 3 when one is not "
            "(as systemctl status), 1 when a NAME is no app or no Emperor answers. "
            "--check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. --metrics: 0, or 1 when no "
            "Emperor answers (the metrics say uwsgi_emperor_up 0) or FILE cannot be written. "
            + EPILOG_ENV
        ),
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="the app to ask about; with --status or --check, the apps to show (default: all)",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "-l", "--list", action="store_true", help="list every app: enabled or not, and by whom"
    )
    what.add_argument(
        "--status", action="store_true",
        help="one line per app (every app in apps-available and apps-enabled, or the NAMEs): "
        "its state and figures; then, for an app that is down, why and its log's last lines",
    )
    what.add_argument(
        "--check", action="store_true",
        help="a monitoring-plugins check of every enabled app (or the NAMEs): one status "
        "line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; see the thresholds",
    )
    what.add_argument(
        "--metrics", action="store_true",
        help="the Emperor and every enabled app as Prometheus metrics (text format)",
    )
    parser.add_argument("--json", action="store_true",
                        help="with --status: one JSON object for scripts, every figure in base units")
    parser.add_argument(
        "--output", metavar="FILE",
        help="with --metrics: replace FILE atomically instead of printing (a new file in its "
        f"directory renamed over it), e.g. {metrics.TEXTFILE}",
    )
    defaults = status.Thresholds()
    for option, attr, kind, counts in CHECK_THRESHOLDS:
        level = "WARNING" if option.startswith("--warn") else "CRITICAL"
        parser.add_argument(
            option, type=kind, metavar="N", default=getattr(defaults, attr),
            help=f"with --check: {level} when {counts} is above N, 'none' to never "
            f"(default: {getattr(defaults, attr) if getattr(defaults, attr) is not None else 'none'})",
        )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing, just set the exit status")
    parser.add_argument("--confdir", metavar="DIR", help=f"configuration directory (default: $UWSGI_CONFDIR or {paths.CONFDIR})")
    parser.add_argument("--statedir", metavar="DIR", help=f"state directory (default: $UWSGI_STATEDIR or {paths.STATEDIR})")
    return parser


def _check_query_options(parser, args):
    modes = ("list", "status", "check", "metrics")
    if not args.names and not any(getattr(args, m) for m in modes):
        parser.error("one of the arguments NAME -l/--list --status --check --metrics is required")
    for mode, option in (("list", "-l/--list"), ("metrics", "--metrics")):
        if getattr(args, mode) and args.names:
            parser.error(f"argument NAME: not allowed with argument {option}")
    if len(args.names) > 1 and not (args.status or args.check):
        parser.error("one NAME at a time (more with --status or --check)")
    if args.json and not args.status:
        parser.error("--json needs --status")
    if args.output and not args.metrics:
        parser.error("--output needs --metrics")
    if not args.check:
        for option, attr, _, _ in CHECK_THRESHOLDS:
            if getattr(args, attr) != getattr(status.Thresholds(), attr):
                parser.error(f"{option} needs --check")


def _parse(parser, argv, check_options=None, intermixed=False):
    """Parse ARGV, then CHECK_OPTIONS(parser, args) if given; a usage error (or --help) gives
    its exit status instead of raising. INTERMIXED: options may sit between the names
    (`uwsgi-ensite app1 -q app2`, as a2ensite's getopt allows)."""
    try:
        if intermixed:
            # Python 3.11's parse_intermixed_args reads an option after `--` as an option:
            # what follows `--` is names, whatever they look like.
            end = argv.index("--") if "--" in argv else len(argv)
            args = parser.parse_intermixed_args(argv[:end])
            args.names += argv[end + 1:]
        else:
            args = parser.parse_args(argv)
        if check_options:
            check_options(parser, args)
        return args, None
    except SystemExit as stop:
        return None, stop.code if isinstance(stop.code, int) else EXIT_USAGE


def _error(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)


def _info(args, message, stream=None):
    if not args.quiet:
        print(message, file=stream or sys.stdout)


def _ask(verb, choices, stdin, stdout):
    """Prompt mode (a2ensite's): list the choices, read names and globs from the terminal."""
    print(f"Your choices are: {' '.join(choices)}", file=stdout)
    print(f"Which apps do you want to {verb} (wildcards ok)?", file=stdout)
    stdout.flush()
    line = stdin.readline()
    return line.split()


def run_site_command(command, argv=None, stdin=None, stdout=None):
    """uwsgi-ensite or uwsgi-dissite, as COMMAND says; returns the exit status."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    argv = sys.argv[1:] if argv is None else argv
    parser = site_parser(command)
    args, status = _parse(parser, argv, command.check_options, intermixed=True)
    if args is None:
        return status
    confdir = paths.confdir(args.confdir)
    statedir = paths.statedir(args.statedir)
    offered = os.path.join(confdir, command.names_from)
    choices = sites.names_in(offered)
    requested = args.names
    if not requested:
        if not stdin.isatty():
            parser.print_usage(sys.stderr)
            _error(command.prog, "no app named, and no terminal to ask on")
            return EXIT_USAGE
        if not choices:
            _error(command.prog, f"no apps to {command.verb} in {offered}")
            return EXIT_FAILED
        try:
            requested = _ask(command.verb, choices, stdin, stdout)
        except KeyboardInterrupt:
            print(file=stdout)
            return EXIT_FAILED
    todo, errors = sites.expand(requested, choices)
    status = EXIT_OK
    for message in errors:
        _error(command.prog, message)
        status = EXIT_FAILED
    changed, acted = False, []
    for name in todo:
        try:
            outcome = command.act(confdir, statedir, name, args)
        except sites.Refused as refusal:
            _error(command.prog, str(refusal))
            status = EXIT_FAILED
            continue
        except OSError as err:
            _error(command.prog, f"app {name}: {err.filename or ''}: {err.strerror}")
            status = EXIT_FAILED
            continue
        _info(args, outcome.message, stdout)
        changed = changed or outcome.changed
        acted.append(name)
    if changed and not args.dry_run:
        _info(args, hint(), stdout)
    if command.then:
        status = max(status, command.then(command, args, confdir, acted, stdout))
    return status


def ensite_main(argv=None, stdin=None, stdout=None):
    """uwsgi-ensite; returns the exit status."""
    return run_site_command(ENSITE, argv, stdin, stdout)


def dissite_main(argv=None, stdin=None, stdout=None):
    """uwsgi-dissite; returns the exit status."""
    return run_site_command(DISSITE, argv, stdin, stdout)


def _gather(names_, args, check_ini=True):
    """status.gather for NAMES_ (checked first), or (None, exit status) after one error line."""
    try:
        wanted = [names.check_name(n) for n in names_]
    except names.NameError_ as err:
        _error("uwsgi-query", str(err))
        return None, EXIT_FAILED
    try:
        return status.gather(wanted, confdir=args.confdir, statedir=args.statedir,
                             check_ini=check_ini), None
    except OSError as err:
        _error("uwsgi-query", f"{err.filename or ''}: {err.strerror or err}")
        return None, EXIT_FAILED


def _status(args):
    report, failed = _gather(args.names, args)
    if report is None:
        return failed
    for name in report.unknown:
        _error("uwsgi-query", f"no app {name} in apps-available or apps-enabled")
    if not args.quiet:
        if args.json:
            print(json.dumps(report.as_json(), indent=1))
        else:
            print("\n".join(status.text_lines(report)))
    if report.flavour == paths.Flavour.DEBIAN.value:
        # What it cannot show, said once; not an error: what is enabled is shown.
        print(f"uwsgi-query: {report.emperor_problem}", file=sys.stderr)
        return EXIT_OK if not report.unknown else EXIT_FAILED
    if report.unknown or report.emperor is None:
        return EXIT_FAILED
    down = [a for a in report.apps if a.enabled and a.state != status.State.RUNNING.value]
    return STATUS_NOT_RUNNING if down else EXIT_OK


def _check(args):
    report, _ = _gather(args.names, args)
    if report is None:
        print("UWSGI UNKNOWN: cannot read the apps' state")
        return status.UNKNOWN
    limits = status.Thresholds(**{attr: getattr(args, attr) for _, attr, _, _ in CHECK_THRESHOLDS})
    code, line = status.check(report, limits)
    if report.unknown:
        code, line = status.UNKNOWN, f"UWSGI UNKNOWN: no app {' '.join(report.unknown)}"
    if not args.quiet:
        print(line)
    return code


def _metrics(args):
    # No ini check (it runs uwsgi as another user): an app whose ini uwsgi refuses is
    # crash-looping here, as the Emperor sees it.
    report, failed = _gather([], args, check_ini=False)
    if report is None:
        return failed
    if report.flavour == paths.Flavour.DEBIAN.value:
        _error("uwsgi-query", report.emperor_problem)
        return EXIT_FAILED
    text = metrics.render(report)
    if args.output:
        try:
            metrics.write_textfile(text, args.output)
        except OSError as err:
            _error("uwsgi-query", f"cannot write {args.output}: {err.strerror or err}")
            return EXIT_FAILED
    elif not args.quiet:
        sys.stdout.write(text)
    return EXIT_OK if report.emperor_problem is None else EXIT_FAILED


def query_main(argv=None):
    """uwsgi-query; returns the exit status (0 enabled, 1 not, 32/33 disabled by admin/maint;
    --status, --check and --metrics as the parser's epilog says)."""
    args, status_ = _parse(query_parser(), sys.argv[1:] if argv is None else argv,
                           _check_query_options)
    if args is None:
        return status_
    if args.status:
        return _status(args)
    if args.check:
        return _check(args)
    if args.metrics:
        return _metrics(args)
    confdir = paths.confdir(args.confdir)
    statedir = paths.statedir(args.statedir)
    if args.list:
        rows = sites.listing(confdir, statedir)
        if not args.quiet:
            width = max((len(r[0]) for r in rows), default=0)
            for name, state_, detail in rows:
                print(f"{name:<{width}}  {state_:<8}  {detail}".rstrip())
        return sites.QUERY_ENABLED
    try:
        name = names.check_name(args.names[0])
    except names.NameError_ as err:
        _error("uwsgi-query", str(err))
        return sites.QUERY_NOT_FOUND
    status_, text = sites.query(confdir, statedir, name)
    if not args.quiet:
        print(text)
    return status_


MAINS = {"ensite": ensite_main, "dissite": dissite_main, "query": query_main}

if __name__ == "__main__":
    # python3 -m uwsgi_emperor.cli ensite|dissite|query ARGS...: the console scripts' bodies.
    if len(sys.argv) < 2 or sys.argv[1] not in MAINS:
        print("usage: python3 -m uwsgi_emperor.cli {ensite,dissite,query} [ARGS...]", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(MAINS[sys.argv[1]](sys.argv[2:]))
