"""User text shown as written: no Markdown, HTML, KaTeX or link survives `studio.text.plain`."""

from __future__ import annotations

import re

import pytest

from studio.text import plain


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1)) **bold** $x^2$",
        "![g](http://host/gold.png)",
        "<img src=x onerror=alert(1)> &quot;",
        "- list\n1. ordered\n# heading\n> quote\n===",
        "`code` ~~strike~~ _em_ | table |",
    ],
)
def test_every_markdown_opener_is_escaped(text):
    escaped = plain(text)
    # removing the backslash escapes gives the text back: nothing was dropped or reordered
    assert re.sub(r"\\(.)", r"\1", escaped).replace("  \n", "\n") == text
    # and no opener is left unescaped
    for opener in ("[", "]", "(", "!", "*", "$", "<", "`", "~", "_", "|", "#", "&"):
        assert not re.search(rf"(?<!\\){re.escape(opener)}", escaped), opener


def test_plain_text_stays_readable():
    assert plain("iclm-k2 · acre-text-iid 3.5") == "iclm-k2 · acre-text-iid 3.5"
