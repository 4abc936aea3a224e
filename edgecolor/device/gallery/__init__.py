"""The scan gallery: a browser page of every colorized scan, live as scans arrive.

``edgecolor scan --watch IN -o OUT --serve [HOST:]PORT`` and ``edgecolor gallery OUT --serve
[HOST:]PORT`` serve it. The parts:

* :mod:`.catalogue` what there is to show (from ``OUT/.edgecolor/manifest.jsonl`` and the
  scan watcher's events) and the scanner's status, behind one lock;
* :mod:`.renditions` thumbnails and browser-viewable copies, cached under ``OUT/.edgecolor/``;
* :mod:`.server` the read-only HTTP server and its one page, ``page.html``;
* :mod:`.commands` the ``gallery`` subcommand and ``scan --serve``.
"""
