"""The one interface to a machine the tests drive: run(), out(), popen() of shell commands.

A subclass says how to enter it (argv()); roots.Machine enters namespaces whose PID 1 is
nsinit.py, nspawn.Container a booted systemd. Tests and the bench never care which.
"""

import subprocess

ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
    "TERM": "dumb",
}


class Shell:
    """Runs shell strings inside something; subclasses implement argv(command)."""

    default_timeout = 300

    def argv(self, command):
        raise NotImplementedError

    def run(self, command, check=True, timeout=None, input=None, env=None):
        """Run COMMAND (a shell string) inside; the CompletedProcess (text). check=True: an
        AssertionError with both outputs when it exits non-zero."""
        proc = subprocess.run(self.argv(command), capture_output=True, text=True,
                              timeout=timeout or self.default_timeout, input=input,
                              env=dict(ENV, **(env or {})))
        if check and proc.returncode != 0:
            raise AssertionError(f"{command!r} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def out(self, command, **kw):
        """COMMAND's stdout, stripped."""
        return self.run(command, **kw).stdout.strip()

    def popen(self, command, env=None):
        """Start COMMAND inside in the background (stdout/stderr piped, text)."""
        return subprocess.Popen(self.argv(command), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(ENV, **(env or {})))
