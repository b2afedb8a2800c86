"""Every word of the console in both languages: each page module's `en` and `zh` tables
(node/web/static/js/*.js, `registerPage({text})`) name the same keys, and every word a
module asks for by name (`t("…")`, a table column's `label: "…"`) is defined by some
module — a missing one shows its key to the user (console.js `t`). Read from the module
files as shipped, no browser needed."""
from __future__ import annotations

import re

import pytest

from node.web.pages import CONSOLE_MODULE, PAGE_MODULES, static_text

# The word tables: `const TEXT = { en: {...}, zh: {...} };` (or `const text`), closed on
# lines of their own.
TABLES = re.compile(r"\n\s*en: \{(.*?)\n\s*\},\n\s*zh: \{(.*?)\n\s*\},\n\};", re.S)
KEY = re.compile(r'(?:^|,|\{)\s*([A-Za-z_]\w*)\s*:\s*"', re.M | re.A)
ASKED = re.compile(r'\bt\("([A-Za-z_]\w*)"\)|\blabel: "([A-Za-z_]\w*)"', re.A)
MODULES = (CONSOLE_MODULE, *PAGE_MODULES)


def tables(module: str) -> tuple[set[str], set[str]]:
    found = TABLES.search(static_text("js", module))
    assert found is not None, f"{module}: no en/zh word tables"
    en, zh = (set(KEY.findall(block)) for block in found.groups())
    return en, zh


@pytest.mark.parametrize("module", MODULES)
def test_each_module_defines_its_words_in_both_languages(module: str) -> None:
    en, zh = tables(module)
    assert en, module
    assert en - zh == set(), f"{module}: no Chinese for {sorted(en - zh)}"
    assert zh - en == set(), f"{module}: no English for {sorted(zh - en)}"


def test_every_word_asked_for_is_defined() -> None:
    defined = set().union(*(tables(module)[0] for module in MODULES))
    for module in MODULES:
        asked = {a or b for a, b in ASKED.findall(static_text("js", module))}
        assert asked - defined == set(), f"{module} asks for words no module defines: {sorted(asked - defined)}"


def test_the_seal_words_are_read() -> None:
    """The parser reads the tables it checks (a pattern that matched nothing would pass)."""
    en, zh = tables("contracts.js")
    assert {"c_seal_revoked_since", "c_seal_not_approved", "seal_Revoked", "ev_ContractPdfSigned"} <= en & zh
    assert {"chain_seals", "seal_Approved"} <= tables("chain.js")[0]
    assert {"admin_seals_heading", "admin_will_approve_seal"} <= tables("admin.js")[1]
