"""Gateway settings: read from the environment with the prefix ``ODM_GATEWAY_`` (maps and lists as JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..api.types import Capacity, Resources

# A token is the gateway's only authentication: long enough that guessing it over HTTP is hopeless.
MIN_TOKEN_CHARS = 16


class GatewaySettings(BaseSettings):
    """NodeODM gateway settings (env prefix ``ODM_GATEWAY_``)."""

    model_config = SettingsConfigDict(env_prefix="ODM_GATEWAY_", extra="forbid", validate_default=True)

    namespace: str = Field("odm-gateway", description="Namespace the gateway's ODMJobs live in.")
    region: str = Field("us-east-1", description="AWS Region of the staging and output buckets.")
    staging_uri: str = Field(
        description="s3://bucket/prefix/ where uploads are staged: <uuid>/images/ becomes the job's input."
    )
    output_uri: str = Field(
        description="s3://bucket/prefix/ under which each task's products go (<uuid>/<run>/, with all.zip)."
    )
    token: SecretStr = Field(
        description="The ?token= every route requires (/info and /options too: a node's details are not "
        "public); at least 16 characters.",
    )
    public_url: str = Field(
        "", description="The URL clients reach the gateway at (printed at start; used by split-merge)."
    )
    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(3000, ge=0, le=65535, description="Port to listen on (NodeODM's default is 3000).")
    max_images: int | None = Field(
        None, ge=1, description="Most images one task may have (reported in /info as maxImages)."
    )
    max_file_bytes: int = Field(
        5 * 1024**3, ge=1, description="Largest single uploaded file, in bytes (S3 PutObject's limit: 5 GiB)."
    )
    max_parallel_tasks: int = Field(
        1000, ge=1, description="Reported in /info as maxParallelTasks (ECS capacity scales out behind it)."
    )
    upload_session_seconds: int = Field(
        86400, ge=60, description="An upload session (init) not committed within this long is refused."
    )
    presign_seconds: int = Field(3600, ge=60, le=604800, description="Lifetime of download URLs.")
    default_resources: dict[str, Any] | None = Field(
        None,
        description="spec.resources of every task, e.g. {cpu: 4, memory: 16Gi}; none: sized from images.",
    )
    default_capacity: dict[str, Any] = Field(
        default_factory=dict, description="spec.capacity of every task, e.g. {type: fargate, spot: true}."
    )
    odm_image: str | None = Field(None, description="spec.odm.image of every task (default: the operator's).")
    logs_calls_per_second: float = Field(
        5.0,
        gt=0,
        description="Most CloudWatch GetLogEvents calls per second this replica makes for console output, "
        "however many tasks clients poll (GetLogEvents' quota is 25 per second per account and Region).",
    )
    console_refresh_seconds: float = Field(
        2.0, ge=0, description="A task's console is read from CloudWatch at most this often."
    )
    console_cache_tasks: int = Field(
        1000, ge=1, description="Tasks whose console lines are kept in memory (least recently used dropped)."
    )
    task_list_refresh_seconds: float = Field(
        2.0, ge=0, description="The list of tasks (one LIST of ODMJobs) is reused for this long."
    )

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 20)")
        return value

    @field_validator("default_resources")
    @classmethod
    def _resources(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            Resources.model_validate(value)  # the ODMJob's own model: refused at start, not at every commit
        return value or None

    @field_validator("default_capacity")
    @classmethod
    def _capacity(cls, value: dict[str, Any]) -> dict[str, Any]:
        Capacity.model_validate(value)
        return value

    @field_validator("staging_uri", "output_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://") or not value[5:].split("/", 1)[0]:
            raise ValueError(f"must be an s3://bucket/prefix/ URI, got {value!r}")
        return value if value.endswith("/") else value + "/"
