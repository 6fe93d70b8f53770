"""The NodeODM gateway's AWS calls (S3 staging and downloads, CloudWatch Logs reads).

A subpackage of its own because the gateway is a separate process with its own IAM policy
(manifests/aws/gateway-policy.json): the operator's policy test scans ``aws/*.py`` only, and the gateway's
policy test scans this package the same way, so each policy grants exactly what its own process calls.
"""
