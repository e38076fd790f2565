"""The Visionati API: ``client`` (HTTP, the key only to its origin), its typed ``answers``,
its vocabulary and price table (``catalog``), the options that shape a result (``options``),
and when to poll a request (``pacing``)."""
