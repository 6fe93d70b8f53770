"""The only package that calls AWS (boto3). One gateway per service, each built on a shared client.

Clients are created once at operator start-up and shared by every handler thread (boto3 clients are thread-safe;
a client per thread cost twice the memory in measurements). Request-level retries are botocore's own (retry mode
``standard``, see clients.py); nothing here loops around a single call.
"""
