"""Telling photo managers (and the user's own programs) that tags were written: the writer
puts what it wrote in the ``outbox``; each configured notifier's ``dispatch`` thread sends
it on, debounced, batched and retried, never holding up tagging."""
