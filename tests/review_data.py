"""A small photo collection for the review tests: three groups whose members were made here from one source each
(so the test knows the truth independently of finder), one single photo, and its hash file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image, ImageOps

from finder.cli.app import cli

GOLDEN = Path(__file__).parent / "data" / "golden"
SOURCES = {"beach": "0008_94874058.jpg", "city": "0017_65378701.jpg", "tree": "0020_83979929.jpg",
           "lonely": "0037_58514309.jpg"}


def make_collection(root: Path) -> dict[str, Path]:
    """``root/photos`` with the groups beach (original, half size, PNG), city (original, re-encoded), tree
    (original, mirrored) and a single photo; hashed into ``root/hashes.npz``.  Returns name -> path."""
    photos = root / "photos"
    for folder in ("a", "b", "c"):
        (photos / folder).mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}

    def save(name: str, image: Image.Image, where: str, **options) -> None:
        made[name] = photos / where
        image.save(made[name], **options)

    for name, file in SOURCES.items():
        with Image.open(GOLDEN / file) as source:
            image = source.convert("RGB")
        save(name, image, f"a/{name}.jpg", quality=95)
        if name == "beach":
            save("beach-small", image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS),
                 "b/beach-small.jpg", quality=90)
            save("beach-png", image, "b/beach.png")
        elif name == "city":
            save("city-q60", image, "c/city-q60.jpg", quality=60)
        elif name == "tree":
            save("tree-mirror", ImageOps.mirror(image), "c/tree-mirror.jpg", quality=90)
    result = CliRunner().invoke(cli, ["hash", str(photos), "-o", str(root / "hashes.npz"), "-q", "-j", "1"])
    assert result.exit_code == 0, result.output
    return made


GROUPS = {"beach": {"beach", "beach-small", "beach-png"}, "city": {"city", "city-q60"},
          "tree": {"tree", "tree-mirror"}}
