"""User text shown as plain text inside Streamlit's Markdown elements (titles, captions, messages).

Streamlit renders the strings of `st.title`, `st.caption`, `st.error`, ... as Markdown with HTML, KaTeX and
links, so a checkpoint folder named `[click](javascript:...)` or a gold answer `![g](http://host/x.png)`
would render a link or make the browser fetch an image. Every piece of text that comes from a user (folder
and file names, prompts, answers, dataset names, exception messages that quote them) goes through `plain`,
which backslash-escapes each character Markdown, KaTeX or HTML could act on, so it shows as written.
"""

from __future__ import annotations

import re

# Characters that open Markdown, HTML, KaTeX or link syntax anywhere in a line (a backslash before ASCII
# punctuation shows the character itself in CommonMark), and the markers that only act at a line's start
# (lists, headings, quotes, setext underlines).
_INLINE = re.compile(r"([\\`*_{}\[\]()<>$~|!#&^])")
_LINE_START = re.compile(r"^(\s*(?:\d+)?)([-+=.)])", flags=re.MULTILINE)


def plain(text: object) -> str:
    """`text` as Markdown that renders exactly as the characters written (newlines kept as line breaks)."""
    escaped = _INLINE.sub(r"\\\1", str(text))
    escaped = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)
    return escaped.replace("\n", "  \n")
