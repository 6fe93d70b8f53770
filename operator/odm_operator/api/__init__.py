"""The ODMJob API (odm-operator.io/v1alpha1): types, quantities, ODM options, validation and the CRD.

Nothing here talks to AWS or Kubernetes: the same code validates offline (``odm-operator validate``), generates
the CRD, and guards the operator before its first AWS call.
"""
