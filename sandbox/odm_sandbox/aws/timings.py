"""How long things take on AWS, in simulated seconds; the agent's clock compresses them by ``time_scale``.

Defaults are rough real-world figures so that a 30-image job takes about 14 simulated minutes end to end (90 s
to boot an instance, 30 s to pull images, ~11 min of ODM). Tests pass smaller values or a large ``time_scale``
to run a job in a second or two; the *order* of events never depends on the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timings:
    # Fargate attaches an ENI and finds capacity before PENDING.
    fargate_provisioning_s: float = 20.0
    # The scheduler places a PROVISIONING task on an instance that has room.
    placement_s: float = 2.0
    # EC2 boot plus ECS agent registration after the Auto Scaling group scales out.
    instance_launch_s: float = 90.0
    # PENDING: pulling the AWS CLI and ODM images.
    image_pull_s: float = 30.0
    # ACTIVATING: network and log set-up before RUNNING.
    activating_s: float = 1.0
    # stage-in: `aws s3 cp --recursive` of the input prefix.
    stage_in_base_s: float = 5.0
    stage_in_per_image_s: float = 0.5
    # ODM itself; 20 s per image puts a 30-image job at ~11 min and 600 images at ~3.4 h.
    odm_base_s: float = 60.0
    odm_per_image_s: float = 20.0
    # stage-out: uploading the products.
    stage_out_base_s: float = 10.0
    stage_out_per_file_s: float = 2.0
    # A task definition that is not ODM-shaped: every container runs this long and exits 0.
    generic_run_s: float = 60.0
    # DEACTIVATING -> STOPPING, and DEPROVISIONING -> STOPPED.
    deactivating_s: float = 1.0
    deprovisioning_s: float = 2.0
    # From SIGTERM (StopTask, spot interruption) to the containers exiting; ODM's Python dies at once.
    sigterm_exit_s: float = 2.0
    # A task that cannot be placed stops with TaskFailedToStart after this long (AWS: 10-30 min, not tunable).
    provisioning_timeout_s: float = 1800.0
    # Managed scaling scales an idle instance in after ~15 one-minute data points.
    idle_instance_s: float = 900.0
    # Stopped tasks stay visible to DescribeTasks for at least an hour; None keeps them forever.
    stopped_retention_s: float | None = 3600.0
