"""The whole local stack in one object: Kubernetes API emulator + AWS emulator + the operator as a child process.

The operator is started exactly as in a cluster (``odm-operator run``) and reaches the emulators only through
a kubeconfig and ``AWS_ENDPOINT_URL``. The stack also prepares what an AWS admin would have: the default VPC's
subnets and security group in the operator's settings, and an existing EC2 capacity provider (``sandbox-ec2``,
an Auto Scaling group at zero) that jobs can name in ``spec.capacity.provider``; ec2 jobs that name none get
operator-managed capacity.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from odm_operator.api.crd import build_crd

from .aws import AwsSandbox
from .kube import KubeEmulator

# The admin's digest pin of ODM's CUDA image (settings.odm_gpu_image); a stand-in, the sandbox never pulls images.
SANDBOX_GPU_IMAGE = "opendronemap/odm@sha256:" + "0" * 64
SANDBOX_PROVIDER = "sandbox-ec2"
SANDBOX_CLUSTER = "odm"
# The operator polls ECS this often in the sandbox (seconds of real time); AWS itself would use 10 s.
SANDBOX_POLL_SECONDS = 0.5
# The safety-net resync of every job; events and the dispatcher do the real work.
SANDBOX_RESYNC_SECONDS = 5.0
# The NodeODM gateway's namespace and buckets (uploads are staged in one, products land in the other).
GATEWAY_NAMESPACE = "odm-gateway"
GATEWAY_STAGING_BUCKET = "odm-gateway-staging"
GATEWAY_OUTPUT_BUCKET = "odm-gateway-output"
# The task execution role an AWS admin would create for the operator's tasks (Fargate's awslogs needs one).
SANDBOX_EXECUTION_ROLE = "odm-sandbox-task-execution"
ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
# Operator-wide ceilings of the local stack (the defaults, 50, are for real accounts; the benchmarks run 1000s).
SANDBOX_MAX_ACTIVE_JOBS = 100_000


def operator_base_env() -> dict[str, str]:
    """The developer's environment without AWS_*, and with no AWS config or credentials file: a shell's real
    credentials, profile, or AWS_ENDPOINT_URL_<SERVICE> (which wins over AWS_ENDPOINT_URL) must never reach the
    sandboxed operator, whose AWS is the emulator alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,  # no profile's endpoint_url, region or credential_process
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service for credentials
        }
    )
    return env


class Stack:
    def __init__(
        self,
        state_dir: Path,
        time_scale: float = 60.0,
        quotas: bool = True,
        operator: bool = True,
        settings: dict[str, str] | None = None,
    ):
        self.state_dir = state_dir
        self.time_scale = time_scale
        self.want_operator = operator
        self.extra_settings = dict(settings or {})  # ODM_OPERATOR_* for the operator, e.g. namespace policies
        self.kube = KubeEmulator(crd_paths=[], crds=[build_crd()])
        self.aws = AwsSandbox(time_scale=time_scale, quotas=quotas)
        self.operator: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self._gateway_log: Any = None

    # ----- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start everything; if any part fails, stop what did start (an AWS sandbox left live would keep the
        next stack in this process from getting a fresh moto account) and raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Stack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "ready").unlink(missing_ok=True)
        self.kube.start()
        self.aws.start()
        self.kubeconfig = self.kube.write_kubeconfig(self.state_dir / "kubeconfig")
        self.metrics_port = _free_port()  # the operator's Prometheus endpoint, http://127.0.0.1:PORT/metrics
        subnets, groups, execution_role = self._prepare_account()
        self.operator_env = {
            **self.aws.env(),
            "KUBECONFIG": str(self.kubeconfig),
            "ODM_OPERATOR_REGION": self.aws.region,
            "ODM_OPERATOR_CLUSTER": SANDBOX_CLUSTER,
            "ODM_OPERATOR_SUBNETS": json.dumps(subnets),
            "ODM_OPERATOR_SECURITY_GROUPS": json.dumps(groups),
            "ODM_OPERATOR_EXECUTION_ROLE_ARN": execution_role,
            "ODM_OPERATOR_POLL_INTERVAL_SECONDS": str(SANDBOX_POLL_SECONDS),
            "ODM_OPERATOR_RESYNC_SECONDS": str(SANDBOX_RESYNC_SECONDS),
            "ODM_OPERATOR_TIME_SCALE": str(self.time_scale),
            "ODM_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "ODM_OPERATOR_ODM_GPU_IMAGE": SANDBOX_GPU_IMAGE,
            # The admin's side of the local stack: its own provider is allowed (closed by default otherwise), and
            # the operator-wide ceilings are lifted for the load tests of a thousand jobs at once.
            "ODM_OPERATOR_ALLOWED_PROVIDERS": json.dumps([SANDBOX_PROVIDER]),
            "ODM_OPERATOR_MAX_ACTIVE_JOBS": str(SANDBOX_MAX_ACTIVE_JOBS),
            "ODM_OPERATOR_MAX_MANAGED_INSTANCES": str(SANDBOX_MAX_ACTIVE_JOBS * 100),
            # 48 simulated hours pass in under five real minutes at the e2e tests' clock: 30 days instead.
            "ODM_OPERATOR_DEFAULT_ACTIVE_DEADLINE_SECONDS": str(30 * 86400),
            **self.extra_settings,
        }
        self._write_env_files()
        if self.want_operator:
            self.start_operator()
        self.start_gateway()
        (self.state_dir / "ready").write_text("ok\n")
        return self

    def start_gateway(self) -> subprocess.Popen[bytes]:
        """Start `odm-operator gateway` as a child (the NodeODM API over ODMJobs in GATEWAY_NAMESPACE); writes
        STATE_DIR/gateway.env (ODM_GATEWAY_URL, ODM_GATEWAY_TOKEN) once it answers."""
        for bucket in (GATEWAY_STAGING_BUCKET, GATEWAY_OUTPUT_BUCKET):
            self.client("s3").create_bucket(Bucket=bucket)
        _create_namespace(self.kubeconfig, GATEWAY_NAMESPACE)
        port, token = _free_port(), secrets.token_urlsafe(24)
        self.gateway_url = f"http://127.0.0.1:{port}"
        self.gateway_token = token
        self.gateway_output_bucket = GATEWAY_OUTPUT_BUCKET
        env = {
            **os.environ,
            **self.aws.env(),
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
            "ODM_GATEWAY_NAMESPACE": GATEWAY_NAMESPACE,
            "ODM_GATEWAY_REGION": self.aws.region,
            "ODM_GATEWAY_STAGING_URI": f"s3://{GATEWAY_STAGING_BUCKET}/uploads/",
            "ODM_GATEWAY_OUTPUT_URI": f"s3://{GATEWAY_OUTPUT_BUCKET}/tasks/",
            "ODM_GATEWAY_TOKEN": token,
            "ODM_GATEWAY_PUBLIC_URL": self.gateway_url,
            "ODM_GATEWAY_DEFAULT_CAPACITY": json.dumps({"type": "fargate"}),
            "ODM_GATEWAY_HOST": "127.0.0.1",
            "ODM_GATEWAY_PORT": str(port),
        }
        self._gateway_log = open(self.state_dir / "gateway.log", "ab")  # noqa: SIM115 - closed in stop()
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "odm_operator.cli", "gateway"],
            env=env,
            stdout=self._gateway_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_until(lambda: _answers(port) or self.gateway.poll() is not None, timeout=60):
            raise RuntimeError(f"the gateway did not start; see {self.state_dir / 'gateway.log'}")
        if self.gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited; see {self.state_dir / 'gateway.log'}")
        (self.state_dir / "gateway.env").write_text(
            f"export ODM_GATEWAY_URL={self.gateway_url}\nexport ODM_GATEWAY_TOKEN={token}\n"
        )
        return self.gateway

    def start_operator(self) -> subprocess.Popen[bytes]:
        """Start (or restart) `odm-operator run` as a child; its log goes to STATE_DIR/operator.log."""
        env = {**operator_base_env(), **self.operator_env, "PYTHONUNBUFFERED": "1"}
        self._log = open(self.state_dir / "operator.log", "ab")  # noqa: SIM115 - closed in stop()
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "odm_operator.cli", "run", "--standalone", "--liveness", ""],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.operator

    def operator_died(self) -> str | None:
        """The tail of the operator's log if it exited on its own, else None."""
        if not self.want_operator or self.operator is None or self.operator.poll() is None:
            return None
        log = (self.state_dir / "operator.log").read_text(errors="replace").splitlines()
        return "\n".join(log[-20:])

    def kill_operator(self, sig: int = signal.SIGKILL) -> None:
        if self.operator and self.operator.poll() is None:
            self.operator.send_signal(sig)
            self.operator.wait(timeout=30)

    def stop(self) -> None:
        if self.gateway and self.gateway.poll() is None:
            self.gateway.terminate()
            try:
                self.gateway.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait()
        if self._gateway_log:
            self._gateway_log.close()
        if self.operator and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                self.operator.wait()
        if self._log:
            self._log.close()
        self.aws.stop()
        self.kube.stop()
        (self.state_dir / "ready").unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- setup ---------------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws.endpoint_url,
            region_name=self.aws.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def _prepare_account(self) -> tuple[list[str], list[str], str]:
        """Default-VPC subnets and security group, a task execution role, and an existing EC2 capacity provider at
        zero instances."""
        ec2 = self.client("ec2")
        subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz"))[
            :3
        ]
        groups = [
            g["GroupId"] for g in ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
        ]
        ec2.create_launch_template(
            LaunchTemplateName=SANDBOX_PROVIDER,
            LaunchTemplateData={
                "ImageId": "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
                "InstanceType": "m6i.2xlarge",
            },
        )
        asg = self.client("autoscaling")
        asg.create_auto_scaling_group(
            AutoScalingGroupName=SANDBOX_PROVIDER,
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=0,
            MixedInstancesPolicy={
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateName": SANDBOX_PROVIDER,
                        "Version": "$Latest",
                    },
                    "Overrides": [{"InstanceType": t} for t in ("m6i.2xlarge", "r6i.2xlarge", "r6i.4xlarge")],
                },
                "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 100},
            },
            VPCZoneIdentifier=",".join(subnets),
            NewInstancesProtectedFromScaleIn=True,
        )
        arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[SANDBOX_PROVIDER])["AutoScalingGroups"][
            0
        ]["AutoScalingGroupARN"]
        ecs = self.client("ecs")
        ecs.create_capacity_provider(
            name=SANDBOX_PROVIDER,
            autoScalingGroupProvider={
                "autoScalingGroupArn": arn,
                "managedScaling": {"status": "ENABLED", "targetCapacity": 100},
                "managedTerminationProtection": "ENABLED",
            },
        )
        ecs.create_cluster(
            clusterName=SANDBOX_CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT", SANDBOX_PROVIDER]
        )
        role = self.client("iam").create_role(
            RoleName=SANDBOX_EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST)
        )["Role"]["Arn"]
        return subnets, groups, role

    def _write_env_files(self) -> None:
        lines = [f"export {k}={v}" for k, v in self.aws.env().items()]
        (self.state_dir / "aws.env").write_text("\n".join(lines) + "\n")
        # Every ODM_OPERATOR_* setting the sandbox's own operator gets, so that `source aws.env operator.env &&
        # odm-operator run` (the --no-operator flow) behaves exactly like it. Quoted for the shell (JSON lists).
        settings = {k: v for k, v in self.operator_env.items() if k.startswith("ODM_OPERATOR_")}
        lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(settings.items())]
        (self.state_dir / "operator.env").write_text("\n".join(lines) + "\n")
        (self.state_dir / "sandbox.env").write_text(f"export SANDBOX_CONTROL_URL={self.aws.control_url}\n")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _create_namespace(kubeconfig: Path, name: str) -> None:
    import kubernetes

    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(kubeconfig)))
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes (then return the last value)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
