"""odm-operator: run OpenDroneMap photogrammetry jobs on AWS ECS from a Kubernetes custom resource.

One ``ODMJob`` object is one ODM run on ECS. The control plane is Kubernetes (kopf); the compute is ECS.
"""

__version__ = "0.1.0"

API_GROUP = "odm-operator.io"
API_VERSION = "v1alpha1"
KIND = "ODMJob"
PLURAL = "odmjobs"
