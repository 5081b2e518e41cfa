"""A griffe extension: render the reST bits of our docstrings as Markdown for mkdocstrings.

The docstrings are Google style (``Args:``, ``Returns:``, ``Raises:``), which mkdocstrings
parses, but they also use a few reStructuredText habits that Markdown shows literally:

* roles such as :class:`~realtime_client.RealtimeToken` become inline code (``RealtimeToken``;
  the ``~`` form keeps only the last name, as Sphinx does);
* ``.. versionadded:: 0.1.0`` / ``.. versionchanged:: 0.2.0 text`` become an italic note;
* a paragraph ending in ``::`` followed by an indented block becomes a fenced code block
  (Python for examples, ``pycon`` for doctests, plain text otherwise).

The docstrings themselves stay as they are, so ``help()`` and IDEs show the same text.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, List

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):`(~?)([^`]+)`")
_VERSION = re.compile(r"^(\s*)\.\. (versionadded|versionchanged|deprecated):: *(\S+)\s*(.*)$")
_LABELS = {"versionadded": "Added in version", "versionchanged": "Changed in version",
           "deprecated": "Deprecated since version"}


def _role(match: re.Match) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def convert(text: str) -> str:
    """The Markdown form of one docstring's text."""
    text = _ROLE.sub(_role, text)
    lines = text.split("\n")
    out: List[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        version = _VERSION.match(line)
        if version:
            lead, kind, number, rest = version.groups()
            i += 1
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > len(lead):
                rest += " " + lines[i].strip()
                i += 1
            label = f"*{_LABELS[kind]} {number}*"
            if out and out[-1].strip():
                out.append("")
            out.append(f"{lead}{label}{': ' + rest.strip() if rest.strip() else '.'}")
            out.append("")
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            lead = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block_start = j
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > lead):
                j += 1
            block = lines[block_start:j]
            while block and not block[-1].strip():
                block.pop()
            if block and _indent(block[0]) > lead:
                head = line.rstrip()[:-2].rstrip()
                code = textwrap.dedent("\n".join(block))
                if code.lstrip().startswith(">>>"):
                    language = "pycon"
                elif head.strip().lower().startswith("example"):
                    language = "python"
                else:
                    language = "text"
                pad = " " * lead
                if out and out[-1].strip() and not head.strip():
                    out.append("")
                if head.strip():
                    # "Example::" alone would read as a Google "Examples" section: keep it text.
                    label = head.strip()
                    out.append(pad + (f"**{label}**" if label.lower() in ("example", "examples")
                                      else label + ":"))
                    out.append("")
                out.append(f"{pad}```{language}")
                out.extend(pad + c if c.strip() else "" for c in code.split("\n"))
                out.append(f"{pad}```")
                out.append("")
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class SphinxToMarkdown(griffe.Extension):
    """Rewrite each object's docstring as it is loaded (see the module docstring)."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and docstring.value:
            docstring.value = convert(docstring.value)
