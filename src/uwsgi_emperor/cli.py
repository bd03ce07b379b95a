"""uwsgi-ensite, uwsgi-dissite, uwsgi-query: a thin shell around sites.py.

Kept light on purpose: `uwsgi-ensite -q app` runs in package maintainer scripts and must start
fast, so nothing heavy (jinja2) is imported on this path.
"""

import argparse
import os
import sys

from . import names, paths, sites
from . import wait
from .wait import DEFAULT_TIMEOUT

EPILOG_ENV = (
    "environment: UWSGI_CONFDIR and UWSGI_STATEDIR override the default directories "
    "(the options win over them); UWSGI_RUNDIR, UWSGI_LOGDIR and UWSGI_BIN move the run "
    "directory, the log directory and the uwsgi binary."
)
HINT = (
    "The emperor picks the change up by itself within its scan interval (about a second); "
    "no reload is needed."
)
# Debian's own uwsgi package (the helpers alone, python3-uwsgi-ensite) has no Emperor
# watching apps-enabled: its init script starts what is enabled when it starts.
DEBIAN_HINT = "Debian's uwsgi runs the enabled apps when it starts: /etc/init.d/uwsgi restart"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def hint(environ=os.environ):
    """What happens next, for the uWSGI this host runs."""
    return DEBIAN_HINT if paths.uwsgi_bin(environ) == paths.DEBIAN_UWSGI_BIN else HINT


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


def _site_parser(prog, description, state, globbed):
    """What uwsgi-ensite and uwsgi-dissite share: NAME|GLOB (globs matched in GLOBBED/), the
    common options, and an epilog naming the STATE every app must end in."""
    parser = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,
        description=description,
        epilog=(
            f"exit status: 0 when every app ended {state} (already {state} counts), 1 when any "
            "failed (the others are still done), 2 for a usage error. " + EPILOG_ENV
        ),
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME|GLOB",
        help=f"app name (a trailing .ini is ignored) or a quoted glob matched in {globbed}/",
    )
    _common(parser)
    return parser


def ensite_parser():
    """The ArgumentParser of uwsgi-ensite (no side effects: man pages are built from it)."""
    parser = _site_parser(
        "uwsgi-ensite",
        f"Enable uWSGI apps: link {paths.AVAILABLE}/NAME.ini into {paths.ENABLED}/ so the "
        "uWSGI Emperor starts it as a vassal. The ini is checked first (a [uwsgi] section, "
        "UTF-8, and no option the packaged uwsgi does not know). With no NAME on a "
        "terminal, lists the apps and asks which to enable.",
        "enabled",
        paths.AVAILABLE,
    )
    parser.add_argument(
        "--wait",
        nargs="?",
        const=DEFAULT_TIMEOUT,
        type=_positive_seconds,
        metavar="SECONDS",
        help="written --wait or --wait=SECONDS: then wait (10 s by default) until the emperor "
        "has each app up; on failure show the end of the app's log and exit 1",
    )
    return parser


def dissite_parser():
    """The ArgumentParser of uwsgi-dissite (no side effects: man pages are built from it)."""
    parser = _site_parser(
        "uwsgi-dissite",
        f"Disable uWSGI apps: remove their link from {paths.ENABLED}/ so the uWSGI Emperor "
        "stops the vassal. Dangling links are removed too; a regular file is never touched. "
        "With no NAME on a terminal, lists the enabled apps and asks which to disable.",
        "disabled",
        paths.ENABLED,
    )
    parser.add_argument(
        "-p",
        "--purge",
        action="store_true",
        help="also forget who enabled or disabled the app, so a package may enable it again",
    )
    return parser


def query_parser():
    """The ArgumentParser of uwsgi-query (no side effects: man pages are built from it)."""
    parser = argparse.ArgumentParser(
        prog="uwsgi-query",
        allow_abbrev=False,
        description="Tell whether a uWSGI app is enabled, and who enabled or disabled it (as a2query -s).",
        epilog=(
            "exit status: 0 enabled, 1 not found or not enabled, 32 disabled by the site "
            "administrator, 33 disabled by a maintainer script, 2 for a usage error. " + EPILOG_ENV
        ),
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("name", nargs="?", metavar="NAME", help="the app to ask about")
    what.add_argument(
        "-l", "--list", action="store_true", help="list every app: enabled or not, and by whom"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing, just set the exit status")
    parser.add_argument("--confdir", metavar="DIR", help=f"configuration directory (default: $UWSGI_CONFDIR or {paths.CONFDIR})")
    parser.add_argument("--statedir", metavar="DIR", help=f"state directory (default: $UWSGI_STATEDIR or {paths.STATEDIR})")
    return parser


def _parse(parser, argv):
    """Parse ARGV; a usage error (or --help) gives its exit status instead of raising."""
    try:
        return parser.parse_args(argv), None
    except SystemExit as stop:
        return None, stop.code if isinstance(stop.code, int) else EXIT_USAGE


def _error(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)


def _info(args, message, stream=None):
    if not args.quiet:
        print(message, file=stream or sys.stdout)


def _ask(prog, verb, choices, stdin, stdout):
    """Prompt mode (a2ensite's): list the choices, read names and globs from the terminal."""
    print(f"Your choices are: {' '.join(choices)}", file=stdout)
    print(f"Which apps do you want to {verb} (wildcards ok)?", file=stdout)
    stdout.flush()
    line = stdin.readline()
    return line.split()


def _run(prog, parser, argv, act, stdin, stdout):
    """The shared body of ensite and dissite; ACT(confdir, statedir, name, args) -> Outcome."""
    if argv is None:
        argv = sys.argv[1:]
    if prog == "uwsgi-ensite":
        # --wait takes its value only as --wait=SECONDS, so `--wait app` keeps app as a name.
        end = argv.index("--") if "--" in argv else len(argv)
        argv = [f"--wait={DEFAULT_TIMEOUT}" if a == "--wait" and i < end else a for i, a in enumerate(argv)]
    args, status = _parse(parser, argv)
    if args is None:
        return status
    confdir = paths.confdir(args.confdir)
    statedir = paths.statedir(args.statedir)
    enabling = prog == "uwsgi-ensite"
    choices = sites.available_names(confdir) if enabling else sites.enabled_names(confdir)
    requested = args.names
    if not requested:
        if not stdin.isatty():
            parser.print_usage(sys.stderr)
            _error(prog, "no app named, and no terminal to ask on")
            return EXIT_USAGE
        if not choices:
            where = sites.available_dir(confdir) if enabling else sites.enabled_dir(confdir)
            _error(prog, f"no apps to {'enable' if enabling else 'disable'} in {where}")
            return EXIT_FAILED
        try:
            requested = _ask(prog, "enable" if enabling else "disable", choices, stdin, stdout)
        except KeyboardInterrupt:
            print(file=stdout)
            return EXIT_FAILED
    todo, errors = sites.expand(requested, choices)
    status = EXIT_OK
    for message in errors:
        _error(prog, message)
        status = EXIT_FAILED
    changed, up = False, []
    for name in todo:
        try:
            outcome = act(confdir, statedir, name, args)
        except sites.Refused as refusal:
            _error(prog, str(refusal))
            status = EXIT_FAILED
            continue
        except OSError as err:
            _error(prog, f"app {name}: {err.filename or ''}: {err.strerror}")
            status = EXIT_FAILED
            continue
        _info(args, outcome.message, stdout)
        changed = changed or outcome.changed
        if enabling and os.path.lexists(sites.enabled_path(confdir, name)):
            up.append(name)
    if changed and not args.dry_run:
        _info(args, hint(), stdout)
    if enabling and args.wait and not args.dry_run and up:
        status = max(status, _wait(prog, args, confdir, up, stdout))
    return status


def _wait(prog, args, confdir, names_, stdout):
    status = EXIT_OK
    for name in names_:
        result = wait.wait_up(
            name,
            ini=sites.available_path(confdir, name),
            rundir=paths.rundir(),
            emperor_rundir=paths.emperor_rundir(),
            logdir=paths.logdir(),
            timeout=args.wait,
            uwsgi=paths.uwsgi_bin(),
        )
        if result.ok:
            _info(args, result.message, stdout)
            continue
        _error(prog, result.message)
        for line in result.log_tail:
            print(f"  {line}", file=sys.stderr)
        status = EXIT_FAILED
        if "no emperor running" in result.message:
            break  # the same for every other app
    return status


def _enable(confdir, statedir, name, args):
    return sites.enable(confdir, statedir, name, maint=args.maintmode, dry_run=args.dry_run)


def _disable(confdir, statedir, name, args):
    return sites.disable(
        confdir, statedir, name, maint=args.maintmode, purge=args.purge, dry_run=args.dry_run
    )


def ensite_main(argv=None, stdin=None, stdout=None):
    """uwsgi-ensite; returns the exit status."""
    return _run("uwsgi-ensite", ensite_parser(), argv, _enable, stdin or sys.stdin, stdout or sys.stdout)


def dissite_main(argv=None, stdin=None, stdout=None):
    """uwsgi-dissite; returns the exit status."""
    return _run("uwsgi-dissite", dissite_parser(), argv, _disable, stdin or sys.stdin, stdout or sys.stdout)


def query_main(argv=None):
    """uwsgi-query; returns the exit status (0 enabled, 1 not, 32/33 disabled by admin/maint)."""
    args, status = _parse(query_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
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
        name = names.check_name(args.name)
    except names.NameError_ as err:
        _error("uwsgi-query", str(err))
        return sites.QUERY_NOT_FOUND
    status, text = sites.query(confdir, statedir, name)
    if not args.quiet:
        print(text)
    return status


MAINS = {"ensite": ensite_main, "dissite": dissite_main, "query": query_main}

if __name__ == "__main__":
    # python3 -m uwsgi_emperor.cli ensite|dissite|query ARGS...: the console scripts' bodies.
    if len(sys.argv) < 2 or sys.argv[1] not in MAINS:
        print("usage: python3 -m uwsgi_emperor.cli {ensite,dissite,query} [ARGS...]", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(MAINS[sys.argv[1]](sys.argv[2:]))
