"""Pure decisions, tested without network or disk: what an error means (``policy``), how long
to wait (``retry``), which files count (``selection``), which keywords a result becomes
(``keywording``, ``vocabulary``), and what waiting for the job table means (``outage``)."""
