"""How often the keeper is the original: finder cluster's default keep rules against labelled groups.

Three labelled sets, each group holding its ``original`` and copies made from it:

* the shared corpus (``../shared/corpus/images``, 133 groups);
* a ``finder synth`` set made from artwork and photos *outside* the corpus: every image of at least
  :data:`MIN_SIDE` pixels on its shorter side in the Debian packages :data:`PACKAGES` (none of which the
  corpus drew from; fetched with ``apt-get download`` into ``--cache`` and unpacked, once), 6 copies each;
  some of these are one design at several sizes or in dark and light, so their groups join;
* a ``finder synth`` set made from ``--photos`` large photos outside the corpus: the 12-megapixel JPEGs
  ``benchmarks/phone_photos.py`` builds from the distinct wallpaper photos of its Debian packages (one file
  per wallpaper), 6 copies each.

Each set is hashed with finder's defaults, grouped as ``finder cluster`` groups it by default, and the
keeper chosen by the default rules and, side by side, by the rules before them (``pixels,size,oldest``).
Reported per set and rule set: the groups found that hold an original, the share whose keeper is that
original, and the transforms kept instead.  The time the looks take (one reduced decode per grouped file)
is the ``keep s`` column: the whole keeper choice, in one process.

    python benchmarks/keeper.py [--corpus DIR] [--cache DIR] [--photos N] [--seeds 1,2,3] [--json]

``--pairs`` prints instead, for each labelled set, the evidence four rules read between every original and
each of its copies, by transform: ``orientation`` (how many copies are decided mirrored, and how many the
same way round, at the rule's ratio), ``coding`` (of the same-size JPEG copies, how many are decided
re-encodes of the original, or mirrored re-encodes -- each test on its own, where the rule tries the mirror
only when the plain test decides nothing --, and how many decisions go the wrong way) and ``detail``'s
resampling test (of the copies resized from the original or to it, how many larger ones are decided its
upscale, and how many times the original is taken for an upscale of a smaller one) and ``central``'s tests
for blurred copies and copies with noise added (of the copies of the original's size, how many are decided
so, and how many times the original is), and the members the ``noise`` rule flags against their group, the
originals included -- how their cut-offs were checked.

    python benchmarks/keeper.py --pairs [--set DIR]...   (DIR holds images and a ground_truth.csv)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from finder.evaluate.keepers import keeper_scores
from finder.evaluate.machine import cpu_model, simd_level
from finder.evaluate.metrics import truth_from_csv
from finder.groups.build import find_groups
from finder.groups.keep import decide_groups, parse_rules
from finder.match.search import make_rules
from finder.store.hashset import load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import finder_command  # noqa: E402
from phone_photos import build_folder, fetch_sources  # noqa: E402

PACKAGES = ("gnome-backgrounds", "ukui-wallpapers", "sway-backgrounds", "propaganda-debian")
MIN_SIDE = 300
RULE_SETS = {"default": [], "before (pixels,size,oldest)": ["pixels,size,oldest"]}
#: ``--pairs``: the evidence counted per transform (resized: copies of the original's shape, one picture in one
#: framing, at least 1/CONTENT_RATIO larger or smaller; upscale: the larger copy decided an upscale of the
#: original; source as upscale: the original decided an upscale of its smaller copy, which is wrong; same size:
#: copies of the original's content size, one picture in one framing; blurred or noisy: the copy decided the
#: original blurred or with noise added, as ``central`` decides; source as edited: the original decided so;
#: noisier than group: members the noise rule flags against their labelled group of three or more, the
#: originals' row included).
COLUMNS = ("copies", "mirrored", "same way", "same-size jpeg", "re-encode", "mirror re-encode", "reversed", "resized",
           "upscale", "source as upscale", "same size", "blurred or noisy", "source as edited", "noisier than group")


def outside_sources(cache: Path) -> list[Path]:
    """Every image of the packages with a shorter side of at least :data:`MIN_SIDE` pixels."""
    found = []
    for path in sorted(fetch_sources(cache, PACKAGES).rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp") or not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                if min(image.size) >= MIN_SIDE:
                    found.append(path)
        except Exception:  # not an image after all
            continue
    return found


def score(folder: Path, work: Path, name: str) -> list[dict]:
    """Hash ``folder`` (its ``ground_truth.csv`` labels it) and score each rule set's keepers."""
    store = work / f"{name}.npz"
    subprocess.run([*finder_command(), "hash", str(folder), "-o", str(store), "-q"], check=True)
    hashset = load(store)
    truth = truth_from_csv(hashset.paths, str(folder / "ground_truth.csv"))
    groups = find_groups(hashset, make_rules(hashset, ["find"]))
    rows = []
    for label, values in RULE_SETS.items():
        start = time.perf_counter()
        decided, _ = decide_groups(groups, parse_rules(values), jobs=1)
        seconds = time.perf_counter() - start
        scores = keeper_scores(decided, hashset.paths, truth)
        rows.append({"set": name, "rules": label, "images": len(hashset), "keep_s": round(seconds, 2),
                     **scores.to_dict()})
    return rows


def pair_evidence(folder: Path) -> dict[str, dict[str, int]]:
    """Per transform: the orientation and coding decisions between each original and its copies in ``folder``."""
    import csv

    from finder.groups.facts import read_coded, read_facts, reencoding_residual
    from finder.groups.keep import (
        ALIGNED_THUMBS,
        CONTENT_RATIO,
        MIRROR_RATIO,
        NOISE_LEVELS,
        NOISE_RATIO,
        RECODE_RATIO,
        Members,
        Thumbs,
        _median,
        _near,
        edited,
        upscaled,
    )

    with open(folder / "ground_truth.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    out: dict[str, dict[str, int]] = {}

    def facts(row: dict):
        path = folder / Path(row["path"]).name
        st = path.stat()
        return read_facts(str(path), st.st_size, st.st_mtime_ns, look=True)

    for members in groups.values():
        originals = [r for r in members if r["transform"] == "original"]
        if not originals:
            continue
        looked = {row["path"]: facts(row) for row in members}
        original = looked[originals[0]["path"]]
        coded = read_coded(original.path)
        levels = [f.look.noise for f in looked.values() if f.look is not None]
        if len(levels) >= 3:  # the noise rule: louder than NOISE_RATIO x the group's median + NOISE_LEVELS
            loud = NOISE_RATIO * _median(levels) + NOISE_LEVELS
            for row in members:
                look = looked[row["path"]].look
                counts = out.setdefault(row["transform"], dict.fromkeys(COLUMNS, 0))
                counts["noisier than group"] += look is not None and look.noise > loud
        for row in members:
            if row is originals[0]:
                continue
            copy = looked[row["path"]]
            counts = out.setdefault(row["transform"], dict.fromkeys(COLUMNS, 0))
            counts["copies"] += 1
            if original.look is not None and copy.look is not None:
                t = Thumbs.of([original], [copy])
                plain, mirrored = float(t.plain[0, 0]), float(t.mirrored[0, 0])
                counts["mirrored"] += mirrored < MIRROR_RATIO * plain
                counts["same way"] += plain < MIRROR_RATIO * mirrored
                areas = original.look.content[0] * original.look.content[1], copy.look.content[0] * copy.look.content[1]
                if (min(areas) <= CONTENT_RATIO * max(areas) and _near(original.look.shape, copy.look.shape)
                        and plain <= ALIGNED_THUMBS):
                    counts["resized"] += 1
                    up = upscaled([original, copy], Members([original, copy]))  # the rule itself, on the pair
                    counts["upscale"] += copy.path in up
                    counts["source as upscale"] += original.path in up
                if original.look.content == copy.look.content and plain <= ALIGNED_THUMBS:
                    counts["same size"] += 1
                    gone = edited([original, copy], Members([original, copy]))
                    counts["blurred or noisy"] += copy.path in gone
                    counts["source as edited"] += original.path in gone
            other = read_coded(copy.path)
            if coded is not None and other is not None and coded.size == other.size:
                counts["same-size jpeg"] += 1
                for key, flip in (("re-encode", False), ("mirror re-encode", True)):
                    forward, back = reencoding_residual(coded, other, flip), reencoding_residual(other, coded, flip)
                    if forward is not None and back is not None:
                        counts[key] += forward <= RECODE_RATIO * back and back > 0
                        counts["reversed"] += back <= RECODE_RATIO * forward and forward > 0
    return out


def print_pairs(sets: list[Path], as_json: bool) -> None:
    machine = f"{cpu_model()} ({simd_level()}), {__import__('os').cpu_count()} cores"
    evidence = {str(folder): pair_evidence(folder) for folder in sets}
    if as_json:
        print(json.dumps({"machine": machine, "sets": evidence}, indent=2))
        return
    print(f"machine: {machine}")
    for folder, table in evidence.items():
        print(f"\n{folder}: original -> copy, by transform")
        print(f"{'transform':<16}" + "".join(f"{c:>18}" for c in COLUMNS))
        for transform, counts in sorted(table.items()):
            print(f"{transform:<16}" + "".join(f"{counts[c]:>18}" for c in COLUMNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
                        / "images")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "finder-keeper-sources")
    parser.add_argument("--photos", type=int, default=64, help="large photos the third set is made from (0: none)")
    parser.add_argument("--photo-cache", type=Path, default=Path.home() / ".cache" / "finder" / "phone-photos",
                        help="where benchmarks/phone_photos.py keeps its packages and built folders")
    parser.add_argument("--seeds", type=lambda text: [int(v) for v in text.split(",")], default=[1],
                        help="finder synth seeds for the two synthetic sets, comma-separated (each a set of its own: "
                             "the same sources, other copies)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pairs", action="store_true", help="the evidence of orientation and coding, by transform")
    parser.add_argument("--set", dest="sets", type=Path, action="append", default=[],
                        help="with --pairs: a labelled folder (default: the corpus)")
    args = parser.parse_args()
    if args.pairs:
        print_pairs(args.sets or [args.corpus], args.json)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.corpus.is_dir():
            rows += score(args.corpus, work, "corpus")
        sets = [("outside", outside_sources(args.cache), "images")]
        if args.photos:
            sets.append(("photos", sorted(build_folder(args.photo_cache, args.photos).glob("*.jpg")), "photos"))
        for name, sources, kind in sets:
            for seed in args.seeds:
                made = work / f"{name}-{seed}"
                subprocess.run([*finder_command(), "synth", *map(str, sources), "-o", str(made), "--seed", str(seed),
                                "-q"], check=True)
                rows += score(made, work, f"{name} ({len(sources)} {kind})" + (f" seed {seed}" if seed != 1 else ""))
    machine = f"{cpu_model()} ({simd_level()}), {__import__('os').cpu_count()} cores"
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows}, indent=2))
        return
    print(f"machine: {machine}")
    print(f"{'set':<30} {'rules':<28} {'groups':>6} {'original kept':>13} {'share':>6} {'keep s':>7}  kept instead")
    for r in rows:
        instead = ", ".join(f"{k} {v}" for k, v in r["kept_instead"].items())
        print(f"{r['set']:<30} {r['rules']:<28} {r['groups_with_original']:>6} {r['original_kept']:>13} "
              f"{r['share']:>6.3f} {r['keep_s']:>7.2f}  {instead}")


if __name__ == "__main__":
    main()
