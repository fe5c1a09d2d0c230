"""What leaves the vault as documents: progress notes, treatment summaries, charts, printed packets.

The structural privacy rule: a progress note or a summary is built from
confirmed progress fields only, selected by SQL on ``privacy = 'progress'``;
the builders are never handed a private field. A signed note is kept exactly
as signed (its progress fields then locked); changes become dated addenda.

Modules:

- ``progress``: SOAP, BIRP and DAP notes: ``build_note`` (pure), ``render`` (md, txt, pdf, json), ``write_note``, signing
- ``prose``: confirmed progress values as short clinical sentences (pure); attendance, duration and service codes
- ``summary``: a client's treatment summary over a date range, with scale charts
- ``document``: one Markdown, text and PDF renderer for notes and summaries
- ``note``: the progress note's model and what it says as a document
- ``treatment``: the summary's model and what it says as a document
- ``charts``: one chart layout drawn as SVG (review page) or a ReportLab drawing (PDF)
- ``clinician``: the clinician's name, credentials and licence, kept in the vault
- ``printing``: print requests, schedules, carry-forward; the sheets registered once the PDF is written; ``send_to_printer``
- ``calendar_import``: ``print --calendar``: the day's (or week's) appointments from an ``.ics`` file
"""
