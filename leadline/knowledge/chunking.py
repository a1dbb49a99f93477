"""Splitting an article's Markdown into the chunks search looks in.

The body is cut into sections at headings, each section into paragraphs (blank lines), and
paragraphs are packed into chunks of at most :data:`TARGET` characters. A paragraph longer than
that is cut at sentence ends, then at spaces. Each chunk of a section starts with the section's
heading (so a chunk says what it is about), and a chunk that continues a section repeats the
tail of the one before it (at most :data:`OVERLAP` characters, whole words), so a sentence cut
between two chunks is found in either. The same body always gives the same chunks.
"""

from __future__ import annotations

import re

TARGET = 800
OVERLAP = 120

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sections(body: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) in order; the text before the first heading has heading ""."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []
    fenced = False

    def close() -> None:
        if paragraph:
            sections[-1][1].append("\n".join(paragraph).strip())
            paragraph.clear()

    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            close()
            sections.append((heading.group(1).strip(), []))
        elif not line.strip() and not fenced:
            close()
        else:
            paragraph.append(line.rstrip())
    close()
    return [(title, [p for p in parts if p]) for title, parts in sections if title or parts]


def _pieces(paragraph: str, room: int) -> list[str]:
    """``paragraph`` cut into pieces of at most ``room`` characters: at sentence ends where
    it can be, else at spaces, else anywhere."""
    if len(paragraph) <= room:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        for word in sentence.split(" ") if len(sentence) > room else [sentence]:
            while len(word) > room:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:room])
                word = word[room:]
            joined = f"{current} {word}" if current else word
            if len(joined) <= room:
                current = joined
            else:
                pieces.append(current)
                current = word
    if current:
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def _tail(text: str) -> str:
    """The last whole words of ``text``, at most OVERLAP characters."""
    if len(text) <= OVERLAP:
        return text
    cut = text[-OVERLAP:]
    space = cut.find(" ")
    return cut[space + 1 :] if space >= 0 else cut


def chunk(body: str, *, target: int = TARGET) -> list[str]:
    """The chunks of a Markdown ``body``, in order (none for an empty body)."""
    chunks: list[str] = []
    for heading, paragraphs in _sections(body):
        lead = f"{heading}\n\n" if heading else ""
        room = max(target - len(lead) - OVERLAP - 2, target // 4)
        if not paragraphs:
            chunks.append(heading)
            continue
        current: list[str] = []
        size = 0
        for paragraph in paragraphs:
            for piece in _pieces(paragraph, room):
                if current and size + 2 + len(piece) > room:
                    chunks.append((lead + "\n\n".join(current)).strip())
                    overlap = _tail(current[-1])
                    current = [overlap] if overlap != piece else []
                    size = len(overlap) if current else 0
                current.append(piece)
                size += len(piece) + (2 if size else 0)
        if current:
            chunks.append((lead + "\n\n".join(current)).strip())
    return chunks
