"""Splitting Markdown into chunks."""

from __future__ import annotations

import itertools

from leadline.knowledge.chunking import OVERLAP, TARGET, chunk


def test_sections_start_chunks_and_carry_their_heading() -> None:
    body = "Intro line.\n\n# Refunds\n\nWithin 30 days.\n\n## Shipping\n\nTwo days.\n\nTracked."
    assert chunk(body) == [
        "Intro line.",
        "Refunds\n\nWithin 30 days.",
        "Shipping\n\nTwo days.\n\nTracked.",
    ]


def test_empty_and_heading_only_bodies() -> None:
    assert chunk("") == []
    assert chunk("  \n\n ") == []
    assert chunk("# Only a title") == ["Only a title"]


def test_long_sections_are_cut_near_the_target_with_overlap() -> None:
    sentences = [f"Sentence number {n} says something useful about parcels." for n in range(80)]
    body = "# Shipping\n\n" + " ".join(sentences[:40]) + "\n\n" + " ".join(sentences[40:])
    chunks = chunk(body)
    assert len(chunks) > 3
    assert all(len(piece) <= TARGET for piece in chunks)
    assert all(piece.startswith("Shipping\n\n") for piece in chunks)
    # Every sentence is in some chunk, whole.
    for sentence in sentences:
        assert any(sentence in piece for piece in chunks), sentence
    # Each chunk after the first repeats the end of the one before it.
    for before, after in itertools.pairwise(chunks):
        repeated = after.removeprefix("Shipping\n\n").split("\n\n")[0]
        assert len(repeated) <= OVERLAP
        assert before.endswith(repeated)


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    chunks = chunk("x" * 2000)
    assert "".join(piece for piece in chunks if "x" * 50 in piece).count("x") >= 2000
    assert all(len(piece) <= TARGET for piece in chunks)


def test_code_fences_keep_their_blank_lines_and_hashes() -> None:
    body = "# Setup\n\n```\n# not a heading\n\nstill code\n```\n\nAfter."
    assert chunk(body) == ["Setup\n\n```\n# not a heading\n\nstill code\n```\n\nAfter."]


def test_the_same_body_gives_the_same_chunks() -> None:
    body = "# A\n\n" + "word " * 900 + "\n\n# B\n\nend"
    assert chunk(body) == chunk(body)
