"""uwsgi-newapp's templates: the context they get and the text they give. Pure but for the
templates themselves, read from the configuration directory given (an admin's overrides in
CONFDIR/templates/) and from the package."""

import os

import jinja2
from jinja2 import meta, nodes

from .newapp_request import NewAppError
from .newapp_validate import app_socket
from . import paths, sockets

TEMPLATES = "templates"
VASSAL_TEMPLATE = "vassal.ini.j2"
NGINX_TEMPLATE = "nginx-site.conf.j2"
# Broodlord settings written into --zerg apps (measured, see the comment in vassal.ini.j2).
ZERG_SOS = 1
ZERG_IDLE = 30
DEBIAN_DEFAULTS = "/usr/share/uwsgi/conf/default.ini"
VASSAL_DEFAULTS = "/etc/uwsgi/vassal-defaults.ini"


def ini_value(text):
    """uWSGI expands %x in ini values: a literal % is written %%."""
    return text.replace("%", "%%")


def template_environment(confdir):
    """Admin overrides in CONFDIR/templates/ first, then the package's own templates."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(os.path.join(confdir, TEMPLATES)),
            jinja2.PackageLoader("uwsgi_emperor", TEMPLATES),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ini"] = ini_value
    return env


def tidy(text):
    """No trailing spaces, no runs of blank lines, one final newline: an admin's template
    may be sloppier than ours, the output still reads as if a person wrote it."""
    lines = [line.rstrip() for line in text.splitlines()]
    out = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def context(app, rundir, nginx_logdir, flavour=paths.Flavour.EMPEROR):
    """Everything the templates use. FLAVOUR: which uWSGI runs the app (paths.Flavour)."""
    # The vassal defaults' unix socket; the [uwsgi] section never sets one.
    socket_path = app_socket(app.name, rundir, flavour)
    debian_uwsgi = flavour is paths.Flavour.DEBIAN
    return {
        "name": app.name,
        "plugins": "python3" if debian_uwsgi else None,
        "defaults_file": DEBIAN_DEFAULTS if debian_uwsgi else VASSAL_DEFAULTS,
        "module": app.module,
        "chdir": app.chdir,
        "virtualenv": app.virtualenv,
        "processes": app.processes,
        "threads": app.threads,
        "user": app.user,
        "group": app.group,
        "env": list(app.env),
        "zerg": app.zerg,
        "socket": socket_path,
        "zerg_server": sockets.zerg_socket(rundir, app.name),
        "zerg_sos": ZERG_SOS,
        "zerg_idle": ZERG_IDLE,
        "server_name": app.server_name,
        "static": list(app.static),
        "upstream": f"unix:{socket_path}",
        "nginx_logdir": nginx_logdir,
    }


def first_unknown_name(tree, known):
    """(name, line) of the first variable TREE (a parsed template) reads that neither KNOWN
    nor the template itself defines, else None."""
    unknown = meta.find_undeclared_variables(tree) - set(known)
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in unknown:
            return node.name, node.lineno
    return None


def render(env, template, ctx):
    """The rendered text; a broken template (an admin's override, say) is one clear line
    naming the file and, when known, the line: a syntax error carries its line, a variable
    nothing defines is found in the parsed template before it renders."""
    where = template
    try:
        source, filename, _uptodate = env.loader.get_source(env, template)
        where = filename or template
        unknown = first_unknown_name(env.parse(source, template, filename), ctx)
        if unknown:
            raise NewAppError(f"template {where} line {unknown[1]}: '{unknown[0]}' is undefined")
        return tidy(env.get_template(template).render(ctx))
    except jinja2.TemplateError as err:
        line = getattr(err, "lineno", None)
        at = f" line {line}" if line else ""
        raise NewAppError(f"template {getattr(err, 'filename', None) or where}{at}: {err.message or err}")
