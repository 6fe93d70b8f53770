"""tracking: events end to end, in a package of its own: its stack has other settings than tests/e2e's, and
moto keeps one account per process, so the two stacks must not be live at once (package fixtures end with
their package)."""
