"""Sequences of frames: ``FrameColorizer``, Y'CbCr 4:2:0 pictures, the one loop
(``LiveLoop``), its sources (cameras, streams, video files) and sinks (recordings, a
window, the web preview), and ``edgecolor bench``."""
