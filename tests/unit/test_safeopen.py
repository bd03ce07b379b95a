"""safeopen and safetext: what root's tools open by a name an app controls, and how they show
an app's text. Real files, fifos, links and devices in a temporary directory."""

import os
import stat

import pytest

from uwsgi_emperor import safeopen, safetext


def test_a_regular_file_is_opened(tmp_path):
    (tmp_path / "f").write_text("data\n")
    fd = safeopen.open_checked(str(tmp_path / "f"))
    try:
        assert os.read(fd, 100) == b"data\n"
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["link", "fifo", "dir", "device"])
def test_anything_else_is_refused_without_being_opened(tmp_path, kind):
    path = tmp_path / "f"
    if kind == "link":
        (tmp_path / "secret").write_text("root's\n")
        path.symlink_to(tmp_path / "secret")
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes it: a blocking open would hang
    elif kind == "dir":
        path.mkdir()
    else:
        path.symlink_to("/dev/null")
    with pytest.raises(OSError):
        os.close(safeopen.open_checked(str(path)))


def test_owner_inode_and_links_are_checked(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    st = os.stat(path)
    with pytest.raises(safeopen.Refused, match="owned by uid"):
        safeopen.open_checked(str(path), owner=st.st_uid + 1)
    with pytest.raises(safeopen.Refused, match="replaced"):
        safeopen.open_checked(str(path), inode=(st.st_dev, st.st_ino + 1))
    os.link(path, tmp_path / "g")
    with pytest.raises(safeopen.Refused, match="2 hard links"):
        safeopen.open_checked(str(path), single_link=True)
    with pytest.raises(ValueError):
        safeopen.open_checked(str(path), os.O_WRONLY | os.O_TRUNC)


def test_a_fifo_nobody_reads_is_no_hang(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(OSError):  # ENXIO: no reader
        safeopen.open_checked(str(fifo), os.O_WRONLY, kind=stat.S_ISFIFO)


def test_root_only_dir(tmp_path):
    d = tmp_path / "d"
    d.mkdir(mode=0o755)
    os.close(safeopen.root_only_dir(str(d)))
    d.chmod(0o775)
    with pytest.raises(safeopen.Refused, match="others than root may create names"):
        safeopen.root_only_dir(str(d))


def test_read_tail_reads_the_end_only(tmp_path):
    big = tmp_path / "big.log"
    with open(big, "wb") as f:
        f.truncate(1 << 33)  # 8 GiB, sparse
        f.seek(0, os.SEEK_END)
        f.write(b"last line\n")
    data, cut = safeopen.read_tail(str(big), 4096)
    assert (len(data), cut, data.endswith(b"\x00last line\n")) == (4096, True, True)


def test_read_small_refuses_a_large_file(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert safeopen.read_small(str(tmp_path / "f"), 100) == b"x" * 100
    with pytest.raises(safeopen.Refused, match="larger than 99 bytes"):
        safeopen.read_small(str(tmp_path / "f"), 99)


@pytest.mark.parametrize("raw, shown", [
    ("plain text, é ü 日本", "plain text, é ü 日本"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
    ("ok\rforged", "ok\\x0dforged"),
    ("two\nlines", "two\\x0alines"),
    ("\u202eevil", "\\u202eevil"),
    ("\x9b31m", "\\x9b31m"),
    (b"bytes \xff\x1b", "bytes \ufffd\\x1b"),
])
def test_visible(raw, shown):
    assert safetext.visible(raw) == shown


def test_visible_lines():
    assert safetext.visible_lines(b"a\r\nb\x1b\nc\n", 2) == ["b\\x1b", "c"]
