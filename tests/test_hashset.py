"""The .npz hash file: round trip, atomic writes, and refusal of anything else."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from finder.decode import FileError
from finder.hashset import FORMAT_VERSION, HashSet, HashSetError, load


def make_hashset(n: int = 3) -> HashSet:
    rng = np.random.default_rng(n)
    return HashSet(
        paths=np.array([f"dir/ä {i},\"q\".jpg" for i in range(n - 1)] + ["bad\udcff.jpg"], dtype=str),
        hashes={"find": rng.integers(0, 2**63, (n, 4), dtype=np.uint64),
                "dhash": rng.integers(0, 2**63, (n, 1), dtype=np.uint64)},
        bits={"find": 256, "dhash": 64},
        size=np.arange(n, dtype=np.int64) + 100,
        mtime_ns=np.arange(n, dtype=np.int64) * 10**9,
        errors=[FileError("x.jpg", "empty file (0 bytes)")],
        exif_transpose=False,
    )


def test_round_trip(tmp_path):
    original = make_hashset()
    original.save(tmp_path / "h.npz")
    loaded = load(str(tmp_path / "h.npz"))
    assert list(loaded.paths) == list(original.paths)
    assert loaded.algorithms == ["find", "dhash"] and loaded.bits == {"find": 256, "dhash": 64}
    for name in original.hashes:
        assert np.array_equal(loaded.hashes[name], original.hashes[name])
    assert np.array_equal(loaded.size, original.size) and np.array_equal(loaded.mtime_ns, original.mtime_ns)
    assert loaded.errors == original.errors and loaded.exif_transpose is False
    assert set(loaded.meta) == {"finder_version", "pillow_version", "numpy_version", "created"}


def test_file_layout_is_plain_arrays(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz", allow_pickle=False) as npz:
        assert str(npz["format"]) == "finder.hashset" and int(npz["format_version"]) == FORMAT_VERSION
        assert npz["paths"].dtype.kind == "U" and npz["hash_find"].dtype == np.uint64
        assert npz["hash_find"].shape == (3, 4) and list(npz["bits"]) == [256, 64]


def test_empty_hashset_round_trips(tmp_path):
    HashSet.empty({"find": 256, "dhash": 64}).save(tmp_path / "e.npz")
    loaded = load(str(tmp_path / "e.npz"))
    assert len(loaded) == 0 and loaded.bits == {"find": 256, "dhash": 64}
    assert loaded.hashes["find"].shape == (0, 4) and loaded.hashes["dhash"].shape == (0, 1)


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "h.npz"
    make_hashset(3).save(target)
    before = target.read_bytes()

    def explode(handle, **arrays):
        handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", explode)
    with pytest.raises(KeyboardInterrupt):
        make_hashset(5).save(target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["h.npz"]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "not a finder hash file"),
        (b"hello, I am a text file\n", "not a finder hash file"),
        (None, "no such file"),
    ],
)
def test_load_rejects_non_hash_files(tmp_path, content, message):
    path = tmp_path / "x.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(HashSetError, match=message):
        load(str(path))


def test_load_rejects_truncated_file(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    data = (tmp_path / "h.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(HashSetError, match="t.npz: not a finder hash file"):
        load(str(tmp_path / "t.npz"))


def test_load_rejects_foreign_npz(tmp_path):
    np.savez(tmp_path / "f.npz", a=np.arange(3))
    with pytest.raises(HashSetError, match="no 'finder.hashset' marker"):
        load(str(tmp_path / "f.npz"))


class Boom:
    def __reduce__(self):
        return (os.mkdir, (BOOM_DIR,))


BOOM_DIR = ""


def test_load_never_unpickles(tmp_path):
    global BOOM_DIR
    BOOM_DIR = str(tmp_path / "pwned")
    arrays = {"format": np.array("finder.hashset"), "paths": np.array([Boom()], dtype=object)}
    np.savez(tmp_path / "p.npz", **arrays, allow_pickle=True)
    with open(tmp_path / "raw.pickle", "wb") as f:
        pickle.dump(Boom(), f)
    for name in ("p.npz", "raw.pickle"):
        with pytest.raises(HashSetError):
            load(str(tmp_path / name))
    assert not os.path.exists(BOOM_DIR)


@pytest.mark.parametrize("mutate,message", [
    (lambda a: a.update(format_version=np.array(99)), "format version 99"),
    (lambda a: a.pop("hash_find"), "missing array 'hash_find'"),
    (lambda a: a.update(hash_find=np.zeros((3, 2), np.uint64)), "must be uint64\\[3, 4\\]"),
    (lambda a: a.update(size=np.zeros(2, np.int64)), "one entry per path"),
])
def test_load_rejects_malformed_contents(tmp_path, mutate, message):
    make_hashset().save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(HashSetError, match=message):
        load(str(tmp_path / "m.npz"))
