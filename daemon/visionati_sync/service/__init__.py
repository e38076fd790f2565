"""A running daemon's lifetime (``daemon``: start, reload, stop), a scan's, the stages' threads
(``runner``), and what the daemon tells outside (``announce``, ``notify``, ``metrics``)."""
