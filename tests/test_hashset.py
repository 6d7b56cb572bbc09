"""The .npz hash file: round trip, atomic writes, and refusal of anything else."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from finder.io.decode import FileError
from finder.store.hashset import FORMAT_VERSION, HashSet, HashSetError, decode_paths, encode_paths, load


def _settings(arrays: dict, **changes) -> np.ndarray:
    record = json.loads(arrays["settings"].tobytes())
    record.update(changes)
    return np.frombuffer(json.dumps(record).encode(), np.uint8)


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
    assert {"finder_version", "pillow_version", "numpy_version", "created"} <= set(loaded.meta)
    assert loaded.settings["format_version"] == 2 and loaded.settings["views"] == ["plain"]
    assert loaded.settings["decode"] == "full" and loaded.settings["algorithms"] == ["find", "dhash"]


def test_file_layout_is_plain_arrays(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz", allow_pickle=False) as npz:
        assert str(npz["format"]) == "finder.hashset" and int(npz["format_version"]) == FORMAT_VERSION == 2
        assert npz["paths"].dtype == np.uint8 and npz["path_offsets"].dtype == np.uint64
        assert npz["hash_find"].dtype == np.uint64 and npz["hash_find"].shape == (3, 4)
        assert list(npz["owner_find"]) == [0, 1, 2] and list(npz["view_find"]) == [0, 0, 0]
        # three hashed files and one error: the per-file table holds all four
        assert list(npz["status"]) == [0, 0, 0, 1] and len(npz["path_offsets"]) == 5
        settings = json.loads(npz["settings"].tobytes())
        assert settings["bits"] == {"find": 256, "dhash": 64} and settings["exif_transpose"] is False


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
    (lambda a: a.update(hash_find=np.zeros((3, 2), np.uint64)), "'hash_find' has shape \\[3, 2\\]"),
    (lambda a: a.update(size=np.zeros(2, np.int64)), "'size' has shape \\[2\\]"),
    (lambda a: a.update(hash_find=np.zeros((3, 4), np.int8)), "'hash_find' has dtype int8"),
    (lambda a: a.update(owner_find=np.array([0, 1, 7])), "points outside"),
    (lambda a: a.update(view_find=np.array([0, 0, 99], np.uint8)), "names a view"),
    (lambda a: a.update(path_offsets=a["path_offsets"][::-1].copy()), "do not describe"),
    (lambda a: a.update(settings=_settings(a, bits={"find": 0, "dhash": 64})), "find hashes are 256 bits"),
    (lambda a: a.update(settings=_settings(a, algorithms=["find", "zhash"], bits={"find": 256, "zhash": 64})),
     "unknown algorithm 'zhash'"),
    (lambda a: a.update(settings=_settings(a, files=10**12)), "'path_offsets' has shape"),
    (lambda a: a.update(settings=np.frombuffer(b"{not json", np.uint8)), "bad settings record"),
])
def test_load_rejects_malformed_contents(tmp_path, mutate, message):
    make_hashset().save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(HashSetError, match=message):
        load(str(tmp_path / "m.npz"))


def test_random_byte_string_paths_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    names = set()
    while len(names) < 1000:  # any bytes but NUL and '/' make a valid POSIX file name
        raw = bytes(rng.choice([b for b in range(1, 256) if b != ord("/")], rng.integers(1, 60)).tolist())
        names.add(os.fsdecode(b"/photos/" + raw))
    names = sorted(names)
    hashset = HashSet(paths=names, hashes={"dhash": rng.integers(0, 2**63, (1000, 1), dtype=np.uint64)},
                      bits={"dhash": 64}, size=np.ones(1000, np.int64), mtime_ns=np.ones(1000, np.int64))
    hashset.save(tmp_path / "r.npz")
    loaded = load(tmp_path / "r.npz")
    assert list(loaded.paths) == names
    assert [os.fsencode(p) for p in loaded.paths] == [os.fsencode(p) for p in names]


def test_one_long_path_does_not_inflate_the_paths_block(tmp_path):
    n = 1_000_000
    names = [f"/photos/{k:07d}.jpg" for k in range(n)]
    names[0] = "/photos/" + "x" * 2800 + ".jpg"
    blob, offsets = encode_paths(names)
    total = sum(len(p) for p in names)
    assert blob.nbytes == total and blob.nbytes + offsets.nbytes < 2 * total
    assert list(decode_paths(blob, offsets)[:2]) == names[:2]


def _format1_file(path, paths, hashes, bits, errors=()):
    """A hash file as finder 0.1 wrote it (format 1), built with numpy alone."""
    np.savez_compressed(
        path, format=np.array("finder.hashset"), format_version=np.array(1, np.int64),
        algorithms=np.array(list(hashes)), bits=np.array([bits[a] for a in hashes], np.int64),
        paths=np.array(paths, dtype=str), size=np.arange(len(paths), dtype=np.int64) + 5,
        mtime_ns=np.arange(len(paths), dtype=np.int64), exif_transpose=np.array(True),
        error_paths=np.array([e[0] for e in errors] or [""], dtype=str)[: len(errors)],
        error_reasons=np.array([e[1] for e in errors] or [""], dtype=str)[: len(errors)],
        finder_version=np.array("0.1.0"), pillow_version=np.array("13.0.0"), numpy_version=np.array("2.4.6"),
        created=np.array("2026-11-01T00:00:00+00:00"), **{f"hash_{a}": h for a, h in hashes.items()})


def test_format1_files_load_and_are_upgraded_on_save(tmp_path):
    rng = np.random.default_rng(1)
    hashes = {"find": rng.integers(0, 2**63, (2, 4), dtype=np.uint64)}
    _format1_file(tmp_path / "old.npz", ["a.jpg", "b\udcff.jpg"], hashes, {"find": 256}, [("c.jpg", "empty")])
    old = load(tmp_path / "old.npz")
    assert list(old.paths) == ["a.jpg", "b\udcff.jpg"] and old.settings["format_version"] == 1
    assert np.array_equal(old.hashes["find"], hashes["find"]) and old.errors == [FileError("c.jpg", "empty")]
    assert list(old.size) == [5, 6] and list(old.inode) == [0, 0]
    old.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz", allow_pickle=False) as npz:
        assert int(npz["format_version"]) == 2
    new = load(tmp_path / "new.npz")
    assert list(new.paths) == list(old.paths) and np.array_equal(new.hashes["find"], hashes["find"])


def _npy_bytes(shape, dtype, payload: bytes) -> bytes:
    import io as _io

    buffer = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def _rewrite_member(source, target, name, data, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compress) as zout:
        for info in zin.infolist():
            if info.filename != name:
                zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(name, data)


def test_header_claiming_a_huge_shape_is_rejected_before_allocating(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    forged = _npy_bytes((10**12, 4), np.uint64, b"\0" * 64)
    _rewrite_member(tmp_path / "h.npz", tmp_path / "huge.npz", "hash_find.npy", forged)
    assert os.path.getsize(tmp_path / "huge.npz") < 20_000
    with pytest.raises(HashSetError, match="'hash_find' has shape"):
        load(tmp_path / "huge.npz")


def test_declared_size_beyond_the_archive_entry_is_rejected(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    forged = _npy_bytes((3, 4), np.uint64, b"\0" * 8)  # right shape, too few bytes
    _rewrite_member(tmp_path / "h.npz", tmp_path / "short.npz", "hash_find.npy", forged)
    with pytest.raises(HashSetError, match="archive entry holds"):
        load(tmp_path / "short.npz")


def test_members_finder_does_not_need_are_never_read(tmp_path):
    make_hashset().save(tmp_path / "h.npz")
    # a stored member of garbage: reading it would fail, so loading proves it was left alone
    _rewrite_member(tmp_path / "h.npz", tmp_path / "extra.npz", "junk.npy", b"\x93NUMPY garbage" * 1000,
                    compress=zipfile.ZIP_STORED)
    assert len(load(tmp_path / "extra.npz")) == 3


def test_every_flipped_byte_is_a_one_line_error_or_harmless(tmp_path):
    make_hashset(20).save(tmp_path / "h.npz")
    data = bytearray((tmp_path / "h.npz").read_bytes())
    rng = np.random.default_rng(3)
    outcomes = set()
    for offset in sorted(set(rng.integers(0, len(data), 300).tolist())):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        (tmp_path / "d.npz").write_bytes(bytes(damaged))
        try:
            load(tmp_path / "d.npz")
            outcomes.add("loaded")
        except HashSetError as exc:
            assert "\n" not in str(exc)
            outcomes.add("error")
    assert "error" in outcomes


def test_a_hash_file_written_before_the_package_moved_still_loads_and_reuses(tmp_path):
    """tests/data/stores/: a store written by finder 0.2.0 before its modules moved into packages (the file
    format's marker is "finder.hashset", whatever the module is called now): it loads, and hashing the same
    images today reuses its rows unchanged."""
    import shutil

    from finder.store.update import hash_paths

    old = Path(__file__).parent / "data" / "stores" / "finder-0.2.0-layout-before-packages.npz"
    stored = load(old)
    assert [Path(p).name for p in stored.paths] == ["0033_02511090.jpg", "0040_26607906.jpg"]
    photos = tmp_path / "photos"
    photos.mkdir()
    examples = Path(__file__).resolve().parents[1] / "examples" / "images"
    for name in ("0033_02511090.jpg", "0040_26607906.jpg"):
        shutil.copy(examples / name, photos / name)
    now = hash_paths(sorted(str(p) for p in photos.iterdir()), ["find", "dhash"], jobs=1,
                     views=stored.settings["views"], decode=stored.settings["decode"]).hashset
    for name in ("find", "dhash"):
        assert [stored.hex(name, k) for k in range(2)] == [now.hex(name, k) for k in range(2)]


def test_path_column_indexes_like_a_list_of_its_names():
    """PathColumn (paths as bytes + offsets in memory) against a plain Python list of the same names."""
    from finder.store.hashset import PathColumn

    names = ["/a/b.jpg", "", "/ü/ñ.png", os.fsdecode(b"/raw/\xff\xfe.jpg"), "/a/" + "x" * 300, "/z"]
    column = PathColumn.of(names)
    assert len(column) == len(names) and list(column) == names and column.tolist() == names
    assert [column[k] for k in range(-len(names), len(names))] == names + names
    picks = np.array([5, 0, 3, 3, -1])
    assert list(column[picks]) == [names[k] for k in picks]
    assert list(column.take(picks)) == [names[k] for k in picks]
    mask = np.array([True, False, True, False, False, True])
    assert list(column[mask]) == [n for n, keep in zip(names, mask) if keep]
    assert list(column.take(mask)) == list(column[mask]) and list(column[1:5:2]) == names[1:5:2]
    assert list(np.asarray(column)) == names and np.asarray(column).dtype == object
    assert list(column.take(np.array([], np.int64))) == []
    for bad in (6, -7):
        with pytest.raises(IndexError):
            column[bad]
    with pytest.raises(IndexError):
        column.take(np.array([6]))


def test_paths_round_trip_through_the_file_with_skipped_files(tmp_path):
    from tests.helpers import synthetic_hashset

    names = sorted(["/p/" + os.fsdecode(b"\xff.jpg"), "/p/a.jpg", "/p/b.jpg"], key=os.fsencode)
    hs = synthetic_hashset(names, {"find": np.arange(12, dtype=np.uint64).reshape(3, 4)})
    hs.errors = [FileError("/p/bad.jpg", "not an image")]
    hs.save(tmp_path / "h.npz")
    back = load(tmp_path / "h.npz")
    assert list(back.paths) == names and [e.path for e in back.errors] == ["/p/bad.jpg"]
    assert list(back.take([2, 0]).paths) == [names[2], names[0]]
