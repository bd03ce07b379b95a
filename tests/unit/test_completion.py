"""The bash completion script, run by a real bash with COMP_WORDS/COMP_CWORD set."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from uwsgi_emperor import cli

SCRIPT = Path(__file__).resolve().parents[2] / "src/uwsgi_emperor/completion/uwsgi-ensite"


@pytest.fixture
def confdir(tmp_path):
    conf = tmp_path / "conf"
    (conf / "apps-available").mkdir(parents=True)
    (conf / "apps-enabled").mkdir()
    for name in ("app1", "app2", "blog", "shop"):
        (conf / "apps-available" / f"{name}.ini").write_text("[uwsgi]\n")
    (conf / "apps-available" / "README").write_text("not an app\n")
    os.symlink("../apps-available/app2.ini", conf / "apps-enabled/app2.ini")
    os.symlink("../apps-available/shop.ini", conf / "apps-enabled/shop.ini")
    os.symlink("../apps-available/gone.ini", conf / "apps-enabled/gone.ini")
    return conf


def complete(words, env_confdir=None):
    """COMPREPLY after pressing TAB with the cursor at the end of WORDS (last word = current)."""
    program = (
        f"source {shlex.quote(str(SCRIPT))}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"complete -p {shlex.quote(words[0])} >/dev/null || exit 3\n"
        f"_uwsgi_ensite {shlex.quote(words[0])} {shlex.quote(words[-1])} {shlex.quote(words[-2])}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {"PATH": "/usr/bin:/bin"}
    if env_confdir is not None:
        env["UWSGI_CONFDIR"] = str(env_confdir)
    done = subprocess.run(["bash", "--norc", "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    return [line for line in done.stdout.splitlines() if line]


def test_ensite_completes_available_apps(confdir):
    assert complete(["uwsgi-ensite", ""], confdir) == ["app1", "app2", "blog", "shop"]
    assert complete(["uwsgi-ensite", "ap"], confdir) == ["app1", "app2"]
    assert complete(["uwsgi-ensite", "-q", "b"], confdir) == ["blog"]


def test_dissite_completes_enabled_apps(confdir):
    assert complete(["uwsgi-dissite", ""], confdir) == ["app2", "gone", "shop"]
    assert complete(["uwsgi-dissite", "s"], confdir) == ["shop"]


def test_query_completes_both(confdir):
    assert complete(["uwsgi-query", ""], confdir) == ["app1", "app2", "blog", "gone", "shop"]


def test_confdir_option_wins_over_the_environment(confdir, tmp_path):
    other = tmp_path / "other"
    (other / "apps-available").mkdir(parents=True)
    (other / "apps-available" / "zeta.ini").write_text("[uwsgi]\n")
    assert complete(["uwsgi-ensite", "--confdir", str(other), ""], confdir) == ["zeta"]
    assert complete(["uwsgi-ensite", f"--confdir={other}", ""], confdir) == ["zeta"]


def test_options(confdir):
    assert complete(["uwsgi-dissite", "--p"], confdir) == ["--purge"]
    assert complete(["uwsgi-ensite", "--w"], confdir) == ["--wait"]
    assert complete(["uwsgi-ensite", "--t"], confdir) == ["--timeout"]
    assert complete(["uwsgi-query", "-"], confdir) == [
        "-l", "--list", "--status", "--check", "--metrics", "--json", "--output", "--warn-down",
        "--crit-down", "--warn-crashloop", "--crit-crashloop", "--warn-busy", "--crit-busy",
        "-q", "--quiet", "--confdir", "--statedir", "-h", "--help"]
    assert complete(["uwsgi-query", "--status", "--json", ""], confdir) == [
        "app1", "app2", "blog", "gone", "shop"]
    assert complete(["uwsgi-query", "--check", "--crit-busy", ""], confdir) == []


def test_no_app_names_where_seconds_go(confdir):
    assert complete(["uwsgi-ensite", "--wait", "--timeout", ""], confdir) == []
    after = complete(["uwsgi-ensite", "--wait", "--timeout", "5", ""], confdir)
    assert after == ["app1", "app2", "blog", "shop"]


def test_nothing_to_offer_without_a_confdir(tmp_path):
    assert complete(["uwsgi-ensite", ""], tmp_path / "missing") == []


PARSERS = [(c.prog, lambda c=c: cli.site_parser(c)) for c in cli.SITE_COMMANDS.values()]
PARSERS.append(("uwsgi-query", cli.query_parser))


@pytest.mark.parametrize("prog, parser", PARSERS, ids=[p[0] for p in PARSERS])
def test_options_offered_are_the_parsers(confdir, prog, parser):
    # An option added to a command's parser must be completed too.
    options = {s for action in parser()._actions for s in action.option_strings}
    assert set(complete([prog, "-"], confdir)) == options
