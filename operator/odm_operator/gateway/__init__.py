"""The NodeODM gateway: WebODM, pyodm and ODM's split-merge submit work that becomes ODMJobs on ECS.

A NodeODM task is an ODMJob labelled with the task's UUID; an upload session is a marker object in S3 next to
the files being uploaded. Nothing lives only in one gateway process, so several replicas serve one API.
"""
