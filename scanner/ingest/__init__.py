"""From paper to readings: load pages, identify and register them, read every field, write them through the store.

The pipeline (``pipeline.ingest``): a stream of pages (``pages``, ``scan``,
``watch``) goes to worker processes (forkserver) that each run the pure page
worker (``read.Reader.process(...) -> PageResult``); one writer in the parent
stores every result through :mod:`scanner.vault.store`. Pixels live here only:
``register`` is the one point-to-pixel boundary; everything outside speaks PDF
points.

Modules, in pipeline order:

- ``pages``: page images streamed from PDFs (an embedded image as is), images, folders (``FileStart``, ``PageImage``, ...)
- ``scan``: ``inklock scan``: a ``PageSource`` (SANE through python-sane, or a test's pages) as an ingest stream, never a file
- ``watch``: ``inklock watch``: each complete file of a folder ingested with ``remove_source``
- ``register``: ArUco markers to homography to a straightened page at 200 dpi; QR decode; the blank-page test
- ``read``: the pure page worker: ``Reader.process(...) -> PageResult`` with ``FieldRead`` s
- ``omr``: ticks, crosses and bubbles by firm and light ink against the paper around each box
- ``digits``: comb cells read by a small MNIST-trained network (``DigitReader.read_cells``), range and date checks
- ``ocr``: ``OcrEngine``: a field's ruled lines read in batched network runs, calibrated; Tesseract for areas without lines
- ``confidence``: the calibration tables and ``calibrate``: a reader's score -> the probability a line is right
- ``ink``: image preparation and the strokes of each ruled line
- ``words``: the vocabulary and the shorthand-safe post-correction
- ``ctcwords``: ``CtcCorrector``: a near vocabulary word replaces a non-word only if the network finds it nearly as likely
- ``lexbeam``: the word-aware beam search: the likeliest text of the frames, words weighed by frequency (``wordfreq``)
- ``linerec``: ``LineReader``: the PP-OCRv6 small line recogniser through ONNX Runtime (model checked by SHA-256)
- ``onnxcut``: the recogniser's output layer cut in memory to the classes Inklock keeps (no new dependency)
- ``pipeline``: the stream, the workers and the one writer; ``IngestSummary``; ``reread_unmatched`` for a page assigned in review
- ``workers``: the workers' start: a forkserver started before the unlock, that has imported the readers
- ``warmup``: imported by that server only: the engines loaded there once, before it forks the workers
"""
