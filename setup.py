from setuptools import find_packages, setup

# The version (debian/changelog's upstream part) and the maintainer (debian/control, or
# $MAINTAINER) have one reader, shared with the Makefile and the build scripts.
from testbed import projectinfo

maintainer_name, maintainer_email = projectinfo.maintainer_parts()

setup(
    name="uwsgi-ensite",
    version=projectinfo.upstream_version(),
    description="Enable, disable, query and create uWSGI Emperor vassals (a2ensite for uWSGI)",
    long_description=(
        "uwsgi-ensite, uwsgi-dissite and uwsgi-query manage the apps of a uWSGI Emperor in "
        "/etc/uwsgi/apps-available and apps-enabled the way a2ensite does for Apache; "
        "uwsgi-newapp writes a vassal ini and an nginx server block from templates."
    ),
    author=maintainer_name,
    author_email=maintainer_email,
    license="MIT",
    url="https://example.org/uwsgi-emperor",
    package_dir={"": "src"},
    packages=find_packages("src"),
    package_data={"uwsgi_emperor": ["templates/*", "completion/*"]},
    python_requires=">=3.11",
    install_requires=["Jinja2"],
    entry_points={
        "console_scripts": [
            "uwsgi-ensite = uwsgi_emperor.cli:ensite_main",
            "uwsgi-dissite = uwsgi_emperor.cli:dissite_main",
            "uwsgi-query = uwsgi_emperor.cli:query_main",
            "uwsgi-newapp = uwsgi_emperor.newapp_cli:main",
        ]
    },
)
