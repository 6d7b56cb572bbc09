"""Use finder as a library: hash the bundled images, then list the groups of near-duplicates.

    python examples/find_duplicates.py [IMAGES_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import finder


def main(directory: str) -> None:
    paths, problems = finder.find_images([directory])
    report = finder.hash_paths(paths, ["find", "dhash"])
    hashes = report.hashset
    print(f"{len(hashes)} images hashed, {len(report.errors)} skipped", file=sys.stderr)

    pairs = finder.find_pairs(hashes, "find", threshold=0.375)
    print(f"{len(pairs.i)} matching pairs at normalised distance <= 0.375")
    for group in finder.cluster(hashes, "find", threshold=0.375, linkage="star"):
        print(f"group {group.id}: {len(group.members)} images, representative {Path(group.representative).name}")
        for member in group.members:
            print(f"    {member.distance:3d}  {Path(member.path).name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "images"))
