"""The English-Chinese glossary (book/glossary.md) and the chapters' links to it.

* every entry has a Chinese term (in bold, first in its definition) and a one-line definition;
* no term is defined twice (Sphinx would warn, and the build treats warnings as errors);
* every ``{term}`` role anywhere in the book names an entry, so no link dangles;
* every chapter 01-15 links at least three different key terms to the glossary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
GLOSSARY = BOOK / "glossary.md"
CJK = re.compile(r"[\u3400-\u9fff]")
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
MIN_LINKS = 3


def parse_glossary(text):
    """Entries of the ``{glossary}`` directive: a list of (terms, definition lines)."""
    match = re.search(r"^```\{glossary\}[^\n]*\n(.*?)^```\s*$", text, re.M | re.S)
    if match is None:
        raise ValueError("glossary.md has no ```{glossary} directive")
    entries, terms, definition = [], [], []
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            definition.append(line.strip())
            continue
        if definition:                       # a new term after a definition starts a new entry
            entries.append((terms, definition))
            terms, definition = [], []
        terms.append(line.strip())
    if terms:
        entries.append((terms, definition))
    return entries


def link_target(role_text):
    """The glossary term a role points at: ``text <term>`` or ``term``, lowercased as Sphinx does."""
    explicit = re.fullmatch(r"(?s).*<([^<>]+)>\s*", role_text)
    return (explicit.group(1) if explicit else role_text).strip().lower()


def markdown_of(path):
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def book_pages():
    return sorted([*BOOK.glob("*.ipynb"), *BOOK.glob("*.md")])


ENTRIES = parse_glossary(GLOSSARY.read_text(encoding="utf-8"))
TERMS = {term.lower() for terms, _ in ENTRIES for term in terms}
CHAPTERS = [p for p in sorted(BOOK.glob("[0-9][0-9]*_*.ipynb")) if 1 <= int(p.name[:2]) <= 15]


def test_the_parser_reads_terms_synonyms_and_definitions():
    text = ("# G\n\n```{glossary}\nalpha\n  **阿尔法** First.\n\nbeta\nB\n  **贝塔** Second,\n"
            "  on two lines.\n```\n")
    assert parse_glossary(text) == [(["alpha"], ["**阿尔法** First."]),
                                    (["beta", "B"], ["**贝塔** Second,", "on two lines."])]
    assert link_target("Recommenders <recommender system>") == "recommender system"
    assert link_target("ReLU") == "relu"


def test_glossary_title_and_size():
    assert GLOSSARY.read_text(encoding="utf-8").startswith("# Glossary (术语表)\n")
    assert len(ENTRIES) >= 50, f"only {len(ENTRIES)} entries"


def test_glossary_is_in_the_toc():
    assert re.search(r"^\s*- file: glossary\s*$", (BOOK / "_toc.yml").read_text(encoding="utf-8"), re.M)


def test_every_entry_has_a_chinese_term_and_a_one_line_definition():
    problems = []
    for terms, definition in ENTRIES:
        text = " ".join(definition)
        chinese = re.match(r"\*\*([^*]+)\*\*\s+(\S.*)", text)
        if chinese is None or not CJK.search(chinese.group(1)):
            problems.append(f"{terms[0]}: the definition must start with its Chinese term in bold")
        elif len(chinese.group(2).split()) < 5:
            problems.append(f"{terms[0]}: the English definition is missing or too short")
        if len(definition) != 1:
            problems.append(f"{terms[0]}: the definition should be one line, not {len(definition)}")
    assert not problems, "\n".join(problems)


def test_no_term_is_defined_twice():
    seen, duplicates = set(), []
    for terms, _ in ENTRIES:
        for term in terms:
            if term.lower() in seen:
                duplicates.append(term)
            seen.add(term.lower())
    assert not duplicates, f"defined twice: {duplicates}"


def test_every_term_link_in_the_book_names_a_glossary_entry():
    dangling = [f"{page.name}: {{term}}`{role}`" for page in book_pages()
                for role in TERM_ROLE.findall(markdown_of(page)) if link_target(role) not in TERMS]
    assert not dangling, "links to terms the glossary does not define:\n" + "\n".join(dangling)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_links_its_key_terms_to_the_glossary(chapter):
    linked = {link_target(role) for role in TERM_ROLE.findall(markdown_of(chapter))}
    assert len(linked) >= MIN_LINKS, (
        f"{chapter.name} links {len(linked)} glossary term(s) {sorted(linked)}; link the first use of at "
        f"least {MIN_LINKS} key terms in its markdown cells with {{term}}`...` (see book/glossary.md)")
