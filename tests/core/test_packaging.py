"""Packaging: the dependencies declared are the ones imported, the classifiers follow the
support matrix, and what the sdist and the wheel carry.

The sdist carries the package and its metadata, no tests: their harness (services, the OpenID
provider's lockfile, the example project) lives in the repository only. Both artifacts are built
once per session, from a copy of the project's files (so no stale ``build/`` of a checkout leaks
into them and the checkout is not written to); the wheel is built from the sdist, as pip would.
"""

from __future__ import annotations

import ast
import configparser
import email.parser
import email.policy
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from trove_classifiers import classifiers as known_classifiers

from tests.services import REPO_ROOT as ROOT

PACKAGE = "logout_sso"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
DIST_NAME = "django_logout_sso"

#: The sdist's top level: nothing else (no tests, example project, docs, CI, Makefile).
SDIST_TOP_LEVEL = {
    PACKAGE,
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "pyproject.toml",
    "MANIFEST.in",
    "PKG-INFO",
    "setup.cfg",
    f"{DIST_NAME}.egg-info",
}


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path

    def sdist_members(self) -> set[str]:
        """Files of the sdist, relative to its top folder."""
        with tarfile.open(self.sdist) as archive:
            return {
                member.name.split("/", 1)[1]
                for member in archive.getmembers()
                if member.isfile() and "/" in member.name
            }

    def wheel_members(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return {name for name in archive.namelist() if not name.endswith("/")}

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as archive:
            [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            text = archive.read(name).decode()
        return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def project_files() -> list[str]:
    """The project's files as git sees them: tracked, and untracked but not ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [
        name
        for name in listing.stdout.decode().split("\0")
        if name and (ROOT / name).is_file()  # a deleted, not yet committed file is listed
    ]


def package_files() -> set[str]:
    return {
        name
        for name in project_files()
        if name.startswith(f"{PACKAGE}/") and "__pycache__" not in name
    }


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    source = tmp_path_factory.mktemp("source")
    for name in project_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    outdir = tmp_path_factory.mktemp("dist")
    # Isolated (build requirements from the package index, a few seconds with pip's cache).
    # setuptools validates the classifiers without downloading PyPI's list: the test below
    # checks them against trove-classifiers.
    env = {**os.environ, "VALIDATE_PYPROJECT_NO_NETWORK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    [sdist] = outdir.glob("*.tar.gz")
    [wheel] = outdir.glob("*.whl")
    return Dists(sdist=sdist, wheel=wheel)


# --- Dependencies ---------------------------------------------------------------------------


def imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / PACKAGE).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {PACKAGE, "__future__"}


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in requirements}


def test_every_import_is_declared_and_every_dependency_imported():
    """PyJWT arrived only through mozilla-django-oidc, django-redis was required but never
    imported: each third-party module logout_sso imports comes from a distribution it declares,
    in its dependencies or in the `hub` (pycurl, certifi) or `metrics` (prometheus-client)
    extra, and each dependency is used."""
    distributions = packages_distributions()
    imported = {
        canonicalize_name(dist)
        for module in imported_top_level_modules()
        for dist in distributions.get(module, [module])
    }
    dependencies = requirement_names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    optional = requirement_names(extras["hub"]) | requirement_names(extras["metrics"])

    assert imported - dependencies == optional
    assert dependencies <= imported


def test_the_extras():
    extras = PROJECT["optional-dependencies"]
    assert requirement_names(extras["redis"]) == {"django-redis"}
    assert requirement_names(extras["metrics"]) == {"prometheus-client"}
    assert extras["docs"] == ["mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]
    [itself] = [line for line in extras["test"] if Requirement(line).name == PROJECT["name"]]
    assert Requirement(itself).extras >= {"hub", "redis", "metrics", "demo"}
    [itself] = [line for line in extras["bench"] if Requirement(line).name == PROJECT["name"]]
    assert Requirement(itself).extras >= {"test"}
    assert "gunicorn" in requirement_names(extras["bench"])
    [itself] = [line for line in extras["dev"] if Requirement(line).name == PROJECT["name"]]
    assert Requirement(itself).extras >= {"test", "docs"}


def test_mozilla_django_oidc_is_held_below_its_next_major():
    """tests/test_oidc_contract.py pins what logout_sso reads of it."""
    [requirement] = [
        Requirement(line)
        for line in PROJECT["dependencies"]
        if Requirement(line).name == "mozilla-django-oidc"
    ]
    assert not requirement.specifier.contains("6.0")
    assert requirement.specifier.contains("5.0.2")


# --- Classifiers ------------------------------------------------------------------------------


def tox_factors(prefix: str) -> set[str]:
    """Versions of a tox factor in env_list: py{311,312} gives 311 and 312."""
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    env_list = tox["tox"]["env_list"]
    return {
        version
        for group in re.findall(rf"\b{prefix}\{{?([\d,]+)\}}?", env_list)
        for version in group.split(",")
    }


def test_the_classifiers_are_known_and_follow_the_support_matrix():
    classifiers = PROJECT["classifiers"]
    assert set(classifiers) <= known_classifiers
    assert "Typing :: Typed" in classifiers
    pythons = {c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c)}
    djangos = {c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*Django :: \d\.\d", c)}
    assert pythons == {f"{v[0]}.{v[1:]}" for v in tox_factors("py")}
    assert djangos == {f"{v[0]}.{v[1:]}" for v in tox_factors("django")}
    assert PROJECT["requires-python"] == f">={min(pythons, key=lambda v: int(v[2:]))}"


# --- The artifacts ----------------------------------------------------------------------------


@pytest.mark.integration
def test_the_wheel_carries_the_package_its_templates_translations_migrations_and_license(dists):
    members = dists.wheel_members()
    package = {name for name in members if name.startswith(f"{PACKAGE}/")}

    assert package == package_files()
    assert f"{PACKAGE}/py.typed" in package
    assert f"{PACKAGE}/templates/logout_sso/base.html" in package
    assert f"{PACKAGE}/templates/logout_sso/admin/credentials.html" in package
    # Django reads the compiled catalogue; the .po goes with it, for translators.
    assert f"{PACKAGE}/locale/fr/LC_MESSAGES/django.mo" in package
    assert f"{PACKAGE}/locale/fr/LC_MESSAGES/django.po" in package
    assert f"{PACKAGE}/migrations/0001_initial.py" in package
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in members)


@pytest.mark.integration
def test_the_wheel_carries_no_tests_and_no_example(dists):
    top_level = {name.split("/")[0] for name in dists.wheel_members()}
    version = dists.wheel.name.split("-")[1]

    assert top_level == {PACKAGE, f"{DIST_NAME}-{version}.dist-info"}


@pytest.mark.integration
def test_the_wheel_metadata(dists):
    metadata = dists.wheel_metadata()

    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert {url.split(",")[0] for url in metadata.get_all("Project-URL", [])} == {
        "Homepage",
        "Documentation",
        "Repository",
        "Changelog",
        "Issues",
    }
    unconditional = {
        canonicalize_name(Requirement(line).name)
        for line in metadata.get_all("Requires-Dist", [])
        if Requirement(line).marker is None
    }
    assert unconditional == requirement_names(PROJECT["dependencies"])
    assert not unconditional & {"pycurl", "certifi", "django-redis", "prometheus-client"}


@pytest.mark.integration
def test_the_sdist_carries_the_package_and_its_metadata_only(dists):
    members = dists.sdist_members()
    top_level = {name.split("/")[0] for name in members}

    assert top_level == SDIST_TOP_LEVEL
    assert {name for name in members if name.startswith(f"{PACKAGE}/")} == package_files()
    assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"):
        with tarfile.open(dists.sdist) as archive:
            member = archive.extractfile(f"{dists.sdist.name.removesuffix('.tar.gz')}/{name}")
            assert member is not None
            assert member.read() == (ROOT / name).read_bytes()


@pytest.mark.integration
def test_the_base_install_needs_no_extra(dists, tmp_path):
    """``pip install django-logout-sso`` (no extra) into a new virtualenv: no pycurl, no
    django-redis, no prometheus-client; the package imports, a relying party's project passes
    its checks, and a hub without the `hub` extra (or a django-redis cache without `redis`, or
    the metrics view without `metrics`) is logout_sso.E009."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(dists.wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-5000:]

    check = subprocess.run(
        [str(python), "-c", BASE_INSTALL_CHECK],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: logout_sso must come from the wheel
        env={k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}},
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.split() == ["ok"]


BASE_INSTALL_CHECK = """
import importlib.util, sys
from pathlib import Path

import logout_sso
assert "site-packages" in Path(logout_sso.__file__).parts, logout_sso.__file__
for missing in ("pycurl", "django_redis", "prometheus_client"):
    assert importlib.util.find_spec(missing) is None, missing

import django
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core import checks
from django.test import override_settings

settings.configure(
    SECRET_KEY="not-a-secret-" * 4,
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.messages",
        "django.contrib.sessions",
        "logout_sso",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF="logout_sso.urls",
    LOGOUT_SSO={},
)
django.setup()
import logout_sso.tasks, logout_sso.urls

def errors(*tags):
    return sorted(
        (m.id, m.msg) for m in checks.run_checks(tags=tags or None) if m.level >= checks.ERROR
    )

assert errors() == [], errors()
assert "pycurl" not in sys.modules

key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
hub = {"HUB_ISSUER": "https://hub.example.com/sso/", "HUB_SIGNING_KEY": key}
with override_settings(LOGOUT_SSO=hub):
    found = errors()
    assert [id for id, _ in found] == ["logout_sso.E009"], found
    assert "pycurl" in found[0][1], found
redis_cache = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://"}}
with override_settings(CACHES=redis_cache):
    # Only the compatibility checks: Django's own cache checks cannot load the backend.
    found = errors(checks.Tags.compatibility)
    assert [id for id, _ in found] == ["logout_sso.E009"], found
    assert "django_redis" in found[0][1], found

import types
from django.urls import path
from logout_sso.metrics import MetricsView
metrics_urls = types.ModuleType("metrics_urls")
metrics_urls.urlpatterns = [path("metrics/", MetricsView.as_view())]
sys.modules["metrics_urls"] = metrics_urls
with override_settings(ROOT_URLCONF="metrics_urls"):
    found = errors()
    assert [id for id, _ in found] == ["logout_sso.E009"], found
    assert "prometheus_client" in found[0][1], found
print("ok")
"""
