"""uwsgi-newapp: check what the admin asked for, then render a vassal ini and an nginx server block.

One Request in, one Plan out, in four steps each in its own module: newapp_validate checks the
input (pure), hostinfo reads the host, newapp_validate judges the input against what was read
(pure), newapp_render fills the templates. Nothing is written here: newapp_write does that,
after the CLI has the Plan.
"""

import os

from . import hostinfo, newapp_render, newapp_validate, paths
from .newapp_request import App, File, NewAppError, Plan, Request  # noqa: F401  (the interface)

NGINX_ENABLED = "/etc/nginx/sites-enabled"
BROODLORD_DEFAULT = 8
# Files holding --env values (secrets, often) are not for every local user to read.
SECRET_MODE = 0o640


def broodlord_note(confdir, defaults):
    """What the admin must do for zergs to be spawned at all."""
    emperor_ini = os.path.join(confdir, "emperor.ini")
    return (
        "broodlord is off in the emperor, so no zerg will ever start: set "
        f'EMPEROR_OPTS="--emperor-broodlord {BROODLORD_DEFAULT}" in {defaults} '
        f"(or uncomment emperor-broodlord in {emperor_ini}), then "
        "systemctl restart uwsgi-emperor (or /etc/init.d/uwsgi-emperor restart without systemd)"
    )


def plan(request):
    """Validate REQUEST and render its files; nothing is written. Raises NewAppError."""
    app = newapp_validate.validate_input(request)
    host = hostinfo.read_host(request)
    warnings = newapp_validate.validate(request, app, host)
    env = newapp_render.template_environment(request.confdir)
    ctx = newapp_render.context(app, request.rundir, request.nginx_logdir, request.flavour)
    ini = os.path.join(request.confdir, paths.AVAILABLE, app.name + paths.SUFFIX)
    ini_text = newapp_render.render(env, newapp_render.VASSAL_TEMPLATE, ctx)
    files = [File(ini, ini_text, SECRET_MODE if app.env else 0o644)]
    if app.server_name is not None:
        site = os.path.join(request.nginx_dir, app.name)
        files.append(File(site, newapp_render.render(env, newapp_render.NGINX_TEMPLATE, ctx)))
    notes = []
    if app.zerg and not host.broodlord:
        notes.append(broodlord_note(request.confdir, request.emperor_defaults))
    return Plan(files, warnings, notes)


def next_steps(name, nginx_path):
    """The commands that put the new app live, for the admin to run."""
    steps = [f"uwsgi-ensite {name}"]
    if nginx_path:
        directory = os.path.dirname(nginx_path)
        if os.path.basename(directory) == "sites-available":
            enabled = os.path.join(os.path.dirname(directory), "sites-enabled")
            steps.append(f"ln -s ../sites-available/{name} {enabled}/")
        else:
            steps.append(f"ln -s {nginx_path} {NGINX_ENABLED}/")
        steps.append("nginx -t && systemctl reload nginx")
    return steps
