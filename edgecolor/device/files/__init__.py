"""Files in, files out: batches of photos and videos (``colorize``), still images written
with their metadata, videos through the frame loop, the manifest, and the scan watcher
(``scan``)."""
