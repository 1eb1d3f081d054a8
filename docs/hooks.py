"""MkDocs hooks of logout_sso's documentation (``hooks:`` in mkdocs.yml).

- The settings reference is generated from :data:`logout_sso.conf.SETTINGS`, the one place
  where each setting's default and help text live: ``<!-- settings-table -->`` in
  ``reference/settings.md`` (and the note up to ``<!-- /settings-table -->``) becomes the table.
- Files at the repository's root (CHANGELOG.md, CONTRIBUTING.md, SECURITY.md) are pages of the
  site: a page whose first line is ``<!-- include-root: NAME -->`` is replaced by that file,
  its links rewritten to the site's pages.
- A link from a page to one of those root files (``../SECURITY.md``, right on GitHub) is
  rewritten to the page that holds it on the site.
- Sphinx roles left in docstrings (``:func:`name```) are shown as code, without the role.

Importing ``logout_sso.conf`` needs no Django settings: it reads them only on access. MkDocs is
imported only when a hook runs, so the tests can render the table without it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logout_sso.conf import SETTINGS

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

SETTINGS_PAGE = "reference/settings.md"
SETTINGS_MARKER = "<!-- settings-table -->"
#: The marker, and what follows it up to ``<!-- /settings-table -->``: a note for readers of the
#: Markdown file (on GitHub), replaced by the table on the site.
SETTINGS_BLOCK = re.compile(r"<!-- settings-table -->(?:.*?<!-- /settings-table -->)?", re.DOTALL)
INCLUDE_MARKER = re.compile(r"\A<!-- include-root: (?P<name>[\w.-]+) -->\n")
#: Files at the repository's root that are pages of the site, by the page that holds each.
ROOT_PAGES = {
    "CHANGELOG.md": "changelog.md",
    "CONTRIBUTING.md": "contributing.md",
    "SECURITY.md": "security-policy.md",
}
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
#: An inline Markdown link's target: ``](target)`` or ``](target#anchor)``.
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")
#: What a Sphinx role in a docstring looks like once mkdocstrings rendered it.
SPHINX_ROLE = re.compile(
    r":(?:func|class|mod|meth|attr|data|exc|obj):<code>(?P<short>~?)(?P<name>[\w.]+)</code>"
)
#: The heading mkdocstrings gives a module: the module a docstring's short names belong to.
MODULE_HEADING = re.compile(
    r'<h\d id="(?P<module>[\w.]+)" class="doc doc-heading">\s*'
    r'<code class="doc-symbol doc-symbol-heading doc-symbol-module">'
)


def render_default(value: Any) -> str:
    """A default as it is written in ``LOGOUT_SSO``: a Python literal."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def render_settings_table() -> str:
    """The settings reference: one row per key of ``LOGOUT_SSO``, in alphabetical order, each
    with an anchor of its own name (``settings.md#HUB_ISSUER``)."""
    rows = ["| Key | Default | Meaning |", "| --- | --- | --- |"]
    for key in sorted(SETTINGS):
        setting = SETTINGS[key]
        help_text = " ".join(setting.help.split()).replace("|", "\\|")
        default = render_default(setting.default).replace("|", "\\|")
        rows.append(f'| <a id="{key}"></a>`{key}` | `{default}` | {help_text} |')
    return "\n".join(rows) + "\n"


def _relative(target: str, from_page: str) -> str:
    """The link from the page ``from_page`` to the page ``target`` (both under docs/)."""
    return posixpath.relpath(target, posixpath.dirname(from_page) or ".")


def rewrite_links(markdown: str, *, source: str, page: str) -> str:
    """Links of a file at ``source`` (a path from the repository's root) as the page ``page``
    (a path under docs/) must write them: root files become their pages, ``docs/x.md`` becomes
    ``x.md``; other links are left alone (and checked by MkDocs)."""

    def rewrite(match: re.Match[str]) -> str:
        target, anchor = match["target"], match["anchor"] or ""
        if "://" in target or target.startswith(("mailto:", "/")):
            return match[0]
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
        if resolved in ROOT_PAGES:
            return f"]({_relative(ROOT_PAGES[resolved], page)}{anchor})"
        if resolved.startswith("docs/"):
            return f"]({_relative(resolved.removeprefix('docs/'), page)}{anchor})"
        return match[0]

    return LINK.sub(rewrite, markdown)


def page_markdown(markdown: str, page_path: str) -> str:
    """A page's Markdown as the site shows it (``page_path``: its path under docs/)."""
    included = INCLUDE_MARKER.match(markdown)
    if included:
        name = included["name"]
        if ROOT_PAGES.get(name) != page_path:
            raise ValueError(f"{page_path} includes {name}, which is not its root file.")
        markdown = (REPOSITORY_ROOT / name).read_text(encoding="utf-8")
        return rewrite_links(markdown, source=name, page=page_path)
    if page_path == SETTINGS_PAGE:
        if SETTINGS_MARKER not in markdown:
            raise ValueError(f"{SETTINGS_PAGE} lost its {SETTINGS_MARKER} marker.")
        markdown = SETTINGS_BLOCK.sub(lambda _: render_settings_table(), markdown, count=1)
    return rewrite_links(markdown, source=f"docs/{page_path}", page=page_path)


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    from mkdocs.exceptions import PluginError

    try:
        return page_markdown(markdown, page.file.src_uri)
    except (OSError, ValueError) as exc:
        raise PluginError(str(exc)) from exc


def link_sphinx_roles(html: str) -> str:
    """Sphinx roles left in docstrings (``:func:`log_out_user```) as links to the object when
    the site documents it (mkdocs-autorefs resolves them), else as code. A short name belongs to
    the module whose documentation it is in; ``~`` shows only the last component."""
    modules = [(match.start(), match["module"]) for match in MODULE_HEADING.finditer(html)]

    def link(match: re.Match[str]) -> str:
        name = match["name"]
        title = name.rpartition(".")[2] if match["short"] else name
        module = next((m for start, m in reversed(modules) if start < match.start()), "")
        identifier = name if "." in name or not module else f"{module}.{name}"
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    return SPHINX_ROLE.sub(link, html)


def on_page_content(html: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    return link_sphinx_roles(html)
