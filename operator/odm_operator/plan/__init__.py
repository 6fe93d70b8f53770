"""Pure planning: spec + settings -> desired ECS state; AWS responses -> observed state -> actions -> status.

Nothing in this package imports boto3, kopf or kubernetes (a test enforces it), so every decision the operator
makes can be table-tested without a network.
"""
