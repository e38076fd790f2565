"""The stages a file meets, in order: ``watcher`` and ``scanner`` find it, ``intake`` queues
it, ``submitter`` uploads it (``gate`` and ``budget`` say whether it may go; ``payload``
writes the request; ``journal`` keeps what the API answered until the job table has it),
``poller`` follows its request, ``writer`` writes its sidecars. Each stage is a ``step()``
the service's runner calls in a thread of its own."""
