"""uwsgi-newapp: a thin shell around newapp.py."""

import argparse
import os
import sys

from . import newapp, newapp_validate, newapp_write, paths
from .newapp_request import PACKAGED_PYTHON

PROG = "uwsgi-newapp"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def build_parser():
    """The argument parser (also used to generate the man page); no side effects."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Write a new uWSGI app (vassal) ini to apps-available/NAME.ini and, with --nginx, "
            "an nginx server block for it, from jinja2 templates. The ini relies on "
            "/etc/uwsgi/vassal-defaults.ini for the socket, log and user, so it stays short. "
            "Nothing is enabled: the commands that do it are printed. Templates in "
            "CONFDIR/templates/ (vassal.ini.j2, nginx-site.conf.j2) override the packaged ones."
        ),
        epilog=(
            "Values are written literally: line breaks, @( and $( (which uWSGI would expand) "
            "are refused. "
            "Exit status: 0 written, 1 bad input or a file in the way (nothing written), "
            "2 bad usage. Environment: UWSGI_CONFDIR (default configuration directory), "
            "UWSGI_RUNDIR (where the sockets are)."
        ),
    )
    parser.add_argument("name", metavar="NAME", help="app name: apps-available/NAME.ini")
    parser.add_argument(
        "--module", required=True, metavar="MODULE",
        help="the WSGI module, e.g. pkg.wsgi, optionally with its callable: pkg.wsgi:app "
        "(default callable: application)",
    )
    parser.add_argument("--chdir", metavar="DIR", help="directory to change to before loading the app")
    parser.add_argument(
        "--virtualenv", metavar="DIR",
        help="the app's own venv, for libraries from PyPI; make it with the suite's "
        f"/usr/bin/python3 (Python {PACKAGED_PYTHON}, the Python the packaged uWSGI runs) "
        "and rebuild it after a dist-upgrade to a new Python. Without it the app imports "
        "Debian's python3-* packages, as /usr/bin/python3 does",
    )
    parser.add_argument("--processes", type=_positive_int, metavar="N", help="worker processes (default 2)")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="threads per worker")
    parser.add_argument("--user", metavar="U", help="run as this user instead of www-data (needs --group)")
    parser.add_argument("--group", metavar="G", help="run as this group instead of www-data (needs --user)")
    parser.add_argument(
        "--allow-root", action="store_true",
        help="accept a --user or --group that is root (uid or gid 0): the app then runs as root",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V",
        help="environment variable for the app (repeatable); the ini then is mode 0640, "
        "not readable by other users",
    )
    parser.add_argument(
        "--zerg", action="store_true",
        help="broodlord mode: when all its workers are busy the app asks the emperor for extra "
        "instances (zergs) that serve its unix socket. Needs emperor-broodlord: "
        f'EMPEROR_OPTS="--emperor-broodlord 8" in {paths.EMPEROR_DEFAULTS}',
    )
    parser.add_argument(
        "--nginx", metavar="SERVER_NAME", dest="server_name",
        help="also write an nginx server block for this host name (e.g. app.example.org or "
        "*.example.org)",
    )
    parser.add_argument(
        "--nginx-dir", metavar="DIR",
        help=f"where the server block goes (default: {paths.NGINX_SITES})",
    )
    parser.add_argument(
        "--static", action="append", default=[], metavar="URL=DIR",
        help="let nginx serve URL from DIR (repeatable; with --nginx)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--stdout", action="store_true", help="print the files instead of writing them")
    parser.add_argument(
        "--strict", action="store_true",
        help="refuse (rather than warn about) directories that do not exist",
    )
    parser.add_argument(
        "--confdir", metavar="DIR",
        help=f"configuration directory holding {paths.AVAILABLE}/ "
        f"(default: $UWSGI_CONFDIR or {paths.CONFDIR})",
    )
    return parser


def _usage_checks(parser, args):
    if (args.user is None) != (args.group is None):
        parser.error("--user and --group go together")
    if args.static and args.server_name is None:
        parser.error("--static needs --nginx")
    if args.nginx_dir and args.server_name is None:
        parser.error("--nginx-dir needs --nginx")


def _app(args):
    return newapp.App(
        name=args.name,
        module=args.module,
        chdir=args.chdir,
        virtualenv=args.virtualenv,
        processes=args.processes,
        threads=args.threads,
        user=args.user,
        group=args.group,
        env=[newapp_validate.parse_env(item) for item in args.env],
        zerg=args.zerg,
        server_name=args.server_name,
        static=[newapp_validate.parse_static(item) for item in args.static],
    )


def _request(args):
    return newapp.Request(
        app=_app(args),
        confdir=paths.confdir(args.confdir),
        nginx_dir=args.nginx_dir or paths.NGINX_SITES,
        rundir=paths.rundir(),
        strict=args.strict,
        allow_root=args.allow_root,
        emperor_defaults=paths.emperor_defaults(),
        flavour=paths.flavour(),
    )


def _print_files(files):
    for index, item in enumerate(files):
        if len(files) > 1:
            print(("\n" if index else "") + f"# ==> {item.path} <==")
        sys.stdout.write(item.text)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    _usage_checks(parser, args)
    try:
        plan = newapp.plan(_request(args))
        for warning in plan.warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)
        if args.stdout:
            _print_files(plan.files)
        else:
            newapp_write.write_files(plan.files, args.force)
    except newapp.NewAppError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:
        print(f"{PROG}: {err.filename or ''}: {err.strerror}", file=sys.stderr)
        return EXIT_FAILED
    for note in plan.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if not args.stdout:
        for item in plan.files:
            print(f"wrote {item.path}")
        name = os.path.basename(plan.files[0].path)[: -len(paths.SUFFIX)]
        nginx_path = plan.files[1].path if len(plan.files) > 1 else None
        print("next:")
        for step in newapp.next_steps(name, nginx_path):
            print(f"  {step}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
