"""The clinician's hand: confirmed words cut from crops, as vectors, for suggestions and search by handwriting.

Learned from confirmed line and text fields only; exemplars of private fields
stay inside the vault (they may suggest text for any field of it, never reach a
progress note or an export). The exemplars' SQL belongs in
:mod:`scanner.vault` (``vault/handstore.py``).

Modules:

- ``wordsplit``: cut a handwritten field crop into word images
- ``wordfeatures``: a word image as a vector (HOG at two cell sizes on a size-normalised word)
- ``fieldwords``: the one cut of a field's crop into words, and their vectors
- ``crops``: a stored line or text field read back: its row, decrypted crop and words
- ``index``: suggestions and search by hand from the exemplars
- ``exemplars``: ``learn_field``, ``suggest`` (a transcription from the nearest exemplars) and ``search_by_hand``
"""
