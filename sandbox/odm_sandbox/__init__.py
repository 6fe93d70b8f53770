"""The embedded local stack: a Kubernetes API emulator, an AWS emulator with a simulated ECS agent, and the
operator as a child process. Never imported by the operator itself, which reaches it only through a kubeconfig
and AWS_ENDPOINT_URL, exactly as it would reach a real cluster and real AWS."""
