"""What a one-shot command does, one module a verb: ``estimate`` (what a scan would cost),
``review`` (`preview`, `apply`), ``untag``, ``ledger`` (`costs`), ``install``
(`install-service`). The commands wire them; they never import the commands."""
