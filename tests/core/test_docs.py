"""The documentation site against the code: the settings reference is generated from
``logout_sso.conf.SETTINGS`` (docs/hooks.py), and every check, signal, task, command and URL the
package has is in its reference page. ``make docs`` builds the site itself (strict)."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest
from celery import Task
from django.core.exceptions import ImproperlyConfigured
from django.core.management import get_commands
from django.dispatch import Signal
from django.urls import URLPattern

from logout_sso import signals, tasks, urls
from logout_sso.checks import Codes
from logout_sso.conf import SETTINGS
from tests.services import REPO_ROOT

DOCS = REPO_ROOT / "docs"
#: "From 1 to 1000": the range a help text states, which its parser must enforce.
STATED_RANGE = re.compile(r"From ([\d]+) to ([\d]+)")


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def page(path: str) -> str:
    return (DOCS / path).read_text(encoding="utf-8")


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_every_setting_has_a_help_text(key: str) -> None:
    assert SETTINGS[key].help.strip(), f"LOGOUT_SSO[{key!r}] has no help text"


def test_the_settings_table_names_every_key_with_its_default() -> None:
    rows = hooks.render_settings_table().splitlines()
    assert rows[:2] == ["| Key | Default | Meaning |", "| --- | --- | --- |"]
    assert len(rows) == 2 + len(SETTINGS)
    for key, row in zip(sorted(SETTINGS), rows[2:], strict=True):
        setting = SETTINGS[key]
        default = hooks.render_default(setting.default)
        assert row.startswith(f'| <a id="{key}"></a>`{key}` | `{default}` | '), row
        assert " ".join(setting.help.split()) in row


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("default", '"default"'),
        (None, "None"),
        (False, "False"),
        ([], "[]"),
        (3.05, "3.05"),
        (1_000_000, "1000000"),
    ],
)
def test_defaults_are_written_as_python_literals(value: object, written: str) -> None:
    assert hooks.render_default(value) == written


def test_the_settings_page_is_where_the_table_goes() -> None:
    markdown = page(hooks.SETTINGS_PAGE)
    assert hooks.SETTINGS_MARKER in markdown
    rendered = hooks.page_markdown(markdown, hooks.SETTINGS_PAGE)
    assert "settings-table" not in rendered  # the marker, and the note up to its end
    assert "on GitHub" not in rendered
    assert hooks.render_settings_table() in rendered


def test_a_settings_page_without_its_marker_fails_the_build() -> None:
    with pytest.raises(ValueError, match="settings-table"):
        hooks.page_markdown("# Settings\n", hooks.SETTINGS_PAGE)


@pytest.mark.parametrize(
    "key", sorted(key for key, setting in SETTINGS.items() if STATED_RANGE.search(setting.help))
)
def test_a_stated_range_is_the_one_enforced(key: str) -> None:
    match = STATED_RANGE.search(SETTINGS[key].help)
    assert match is not None
    low, high = int(match[1]), int(match[2])
    parse = SETTINGS[key].parse
    assert parse(key, low) == low
    assert parse(key, high) == high
    for outside in (low - 1, high + 1):
        with pytest.raises(ImproperlyConfigured):
            parse(key, outside)


def test_links_to_root_files_become_their_pages() -> None:
    rendered = hooks.rewrite_links(
        "[policy](../../SECURITY.md) [bench](../benchmarks.md#hub) [up](../../README.md)",
        source="docs/guides/hub.md",
        page="guides/hub.md",
    )
    assert rendered == (
        "[policy](../security-policy.md) [bench](../benchmarks.md#hub) [up](../../README.md)"
    )
    rendered = hooks.rewrite_links(
        "[threats](docs/security.md#limits) [policy](SECURITY.md) [web](https://example.com/x.md)",
        source="CONTRIBUTING.md",
        page="contributing.md",
    )
    assert rendered == (
        "[threats](security.md#limits) [policy](security-policy.md) [web](https://example.com/x.md)"
    )


def test_sphinx_roles_in_docstrings_become_links() -> None:
    html = (
        '<h2 id="logout_sso.api" class="doc doc-heading">\n'
        '<code class="doc-symbol doc-symbol-heading doc-symbol-module"></code>'
        "<p>See :func:<code>log_out_user</code> and :class:<code>~logout_sso.client.HubError</code>"
    )
    assert hooks.link_sphinx_roles(html).endswith(
        '<p>See <autoref identifier="logout_sso.api.log_out_user" optional>'
        "<code>log_out_user</code></autoref> and "
        '<autoref identifier="logout_sso.client.HubError" optional><code>HubError</code></autoref>'
    )


def test_every_system_check_is_documented() -> None:
    codes = {value for name, value in vars(Codes).items() if name.isupper()}
    documented = set(re.findall(r"logout_sso\.[EW]\d{3}", page("reference/checks.md")))
    assert documented == codes


def test_every_signal_is_documented() -> None:
    names = {name for name, value in vars(signals).items() if isinstance(value, Signal)}
    text = page("reference/signals.md")
    assert {name for name in names if f"logout_sso.signals.{name}" not in text} == set()


def test_every_task_is_documented() -> None:
    names = {value.name for value in vars(tasks).values() if isinstance(value, Task)}
    assert names
    text = page("reference/tasks.md")
    assert {name for name in names if f"`{name}`" not in text} == set()


def test_every_management_command_is_documented() -> None:
    commands = {name for name, app in get_commands().items() if app == "logout_sso"}
    assert commands
    text = page("reference/commands.md")
    assert {name for name in commands if f"`{name}`" not in text} == set()


def test_every_url_is_documented() -> None:
    names = {pattern.name for pattern in urls.urlpatterns if isinstance(pattern, URLPattern)}
    text = page("reference/http.md")
    assert {name for name in names if f"`{name}`" not in text} == set()


def test_every_page_is_in_the_navigation() -> None:
    nav = (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert {path for path in pages if f": {path}\n" not in nav} == set()


def test_the_readme_links_into_the_docs() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)(?:#[^)]*)?\)", readme)
    assert any(target.startswith("docs/") for target in targets)
    assert [target for target in targets if not (REPO_ROOT / target).exists()] == []


def test_the_metrics_guide_lists_every_metric_and_its_rules_use_only_those() -> None:
    """The guide's tables name every metric the exposition can hold; the alerting rules'
    expressions name only those (a renamed metric would leave a rule that never fires)."""
    from logout_sso.internal.metrics import events, state

    text = page("guides/metrics.md")
    counted = {
        f"{metric._name}_total" if metric._type == "counter" else metric._name
        for metric in (
            events.LOGOUTS,
            events.DELIVERY_ATTEMPTS,
            events.DELIVERY_LATENCY,
            events.BACKCHANNEL_TOKENS,
            events.INBOUND_SIGNALS,
        )
    }
    gauges = set(re.findall(r'"(logout_sso_[a-z_]+)"', (REPO_ROOT / state.__file__).read_text()))
    exported = counted | gauges
    documented = set(re.findall(r"^\| `(logout_sso_[a-z_]+)` \|", text, re.MULTILINE))
    assert documented == exported
    [rules] = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    expressions = "\n".join(
        line
        for line in rules.splitlines()
        if not line.strip().startswith(("#", "summary:", "description:"))
    )
    named = set(re.findall(r"\b(logout_sso_[a-z_]+)\b", expressions))
    assert named
    assert named <= exported, named - exported
