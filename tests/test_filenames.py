"""Names from the network made safe (pure functions), and sizes for people."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.protocol.filenames import (
    MAX_NAME_BYTES,
    clean_name,
    numbered,
    printable,
    safe_filename,
    split_ext,
)
from roost.protocol.sizes import compare_sizes, human_size


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\Windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\evil.bat", "evil.bat"),
        ("a\x00b.txt", "ab.txt"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("bell\x07\x1b[31m.txt", "bell[31m.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override removed
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("LPT9", "_LPT9"),
        ("console.txt", "console.txt"),  # only exact device names are reserved
        ("trailing. . .", "trailing"),
        ("trailing space ", "trailing space"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("...", "file"),
        (".bashrc", "bashrc"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("tab\tand  spaces.txt", "taband spaces.txt"),
        ("café ☕ 報告.pdf", "café ☕ 報告.pdf"),
        ("cafe\u0301.txt", "café.txt"),  # NFC
    ],
)
def test_safe_filename(offered: str, saved: str) -> None:
    assert safe_filename(offered) == saved


def test_clean_name_keeps_what_is_only_unsafe_on_disk() -> None:
    # For display, the server keeps a leading dot and reserved names; clients sanitize on saving.
    assert clean_name("../.bashrc") == ".bashrc"
    assert clean_name("CON") == "CON"
    assert clean_name("x\x00/y\x01z") == "yz"


def test_printable_text_for_a_terminal() -> None:
    assert printable("text/plain") == "text/plain"
    assert printable("a\x1b]0;pwned\x07b\u202e\r\nc\u2028d") == "a]0;pwnedbcd"
    assert printable("  many   spaces\t") == "many spaces"


def test_long_names_are_cut_in_bytes_keeping_the_extension() -> None:
    name = "é" * 300 + ".jpeg"
    safe = safe_filename(name)
    assert safe.endswith(".jpeg")
    assert len(safe.encode()) <= MAX_NAME_BYTES - 40
    safe.encode().decode()  # no broken character at the cut
    assert len(clean_name("x" * 1000).encode()) == MAX_NAME_BYTES


@given(st.text(max_size=400))
def test_any_name_becomes_one_harmless_component(name: str) -> None:
    safe = safe_filename(name)
    assert safe and safe not in (".", "..")
    assert not set(safe) & set('/\\<>:"|?*\x00')
    assert all(ord(ch) >= 32 for ch in safe)
    assert not safe.startswith(".") and not safe.endswith((".", " "))
    assert 0 < len(safe.encode()) <= MAX_NAME_BYTES


def test_numbered_names_for_not_overwriting() -> None:
    assert list(itertools.islice(numbered("report.pdf"), 3)) == [
        "report.pdf",
        "report (1).pdf",
        "report (2).pdf",
    ]
    assert list(itertools.islice(numbered("README"), 2)) == ["README", "README (1)"]
    assert split_ext("archive.tar.gz") == ("archive.tar", ".gz")
    assert split_ext(".hidden") == (".hidden", "")


def test_sizes_for_people() -> None:
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(10 * 1024 * 1024) == "10.0 MiB"
    assert compare_sizes(11 * 1024 * 1024, 10 * 1024 * 1024) == ("11.0 MiB", "10.0 MiB")
    # One byte over would read "10.0 MiB exceeds 10.0 MiB": exact bytes instead.
    assert compare_sizes(10 * 1024 * 1024 + 1, 10 * 1024 * 1024) == (
        "10,485,761 bytes",
        "10,485,760-byte",
    )
