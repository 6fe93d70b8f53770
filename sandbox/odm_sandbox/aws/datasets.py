"""The data every sandbox starts with: input datasets, an output bucket and the AMI parameters.

Examples, demos and tests refer to these by name, so a fresh sandbox can run a job straight away:
``s3://odm-sandbox-input/small/`` (30 images and a gcp_list.txt: a quick successful job),
``.../medium/`` (600 images: needs 64 GiB, the out-of-memory case at smaller sizes), ``.../empty/`` (a readme
and no images: stage-in fails) and ``s3://odm-sandbox-output/`` for products. Object bodies are tiny (a JPEG
header and padding), so seeding takes milliseconds; the operator only looks at keys and sizes.
"""

from __future__ import annotations

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.ssm.models import ssm_backends

from .staging import S3_PARTITION

INPUT_BUCKET = "odm-sandbox-input"
OUTPUT_BUCKET = "odm-sandbox-output"

# Prefix -> number of images.
DATASETS = {"small": 30, "medium": 600, "empty": 0}

# Bytes per seeded image: enough to look like a file, small enough that 630 of them cost nothing.
IMAGE_BYTES = 4096
# JPEG start-of-image and an APP1/Exif marker, so a curious reader sees a JPEG signature.
JPEG_HEADER = b"\xff\xd8\xff\xe1\x00\x16Exif\x00\x00MM\x00*\x00\x00\x00\x08"
IMAGE_BODY = JPEG_HEADER + b"\x00" * (IMAGE_BYTES - len(JPEG_HEADER) - 2) + b"\xff\xd9"

# A ground control point file in ODM's format: projection line, then "x y z px py image".
GCP_LIST = (
    b"EPSG:4326\n"
    b"-91.9942 46.8425 198.6 2013.2 1356.5 IMG_0001.JPG\n"
    b"-91.9938 46.8427 199.1 1894.0 1402.7 IMG_0002.JPG\n"
    b"-91.9935 46.8431 198.9 2101.4 1288.3 IMG_0005.JPG\n"
)
EMPTY_README = b"This prefix intentionally holds no images: a job pointed here fails in stage-in.\n"

# ECS-optimised AMI parameters the operator resolves (reference/ecs-odm-facts.md section 6), with stand-in IDs
# for any moto does not ship.
AMI_PARAMETERS = {
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id": "ami-0a0e5d9c7acc336f1",
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id": "ami-0b4dbd5b8e1c3a6a2",
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id": "ami-0c5e2f7a9d3b1e4c3",
    "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id": "ami-0d6f3a8b0e4c2f5d4",
}


def image_key(prefix: str, index: int) -> str:
    return f"{prefix}/IMG_{index:04d}.JPG"


def seed(region: str) -> None:
    """Create the buckets, datasets and missing AMI parameters; safe to call again after a reset."""
    s3 = s3_backends[DEFAULT_ACCOUNT_ID][S3_PARTITION]
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        if bucket not in s3.buckets:
            s3.create_bucket(bucket, region)
    for prefix, images in DATASETS.items():
        for index in range(1, images + 1):
            s3.put_object(INPUT_BUCKET, image_key(prefix, index), IMAGE_BODY)
    s3.put_object(INPUT_BUCKET, "small/gcp_list.txt", GCP_LIST)
    s3.put_object(INPUT_BUCKET, "empty/readme.txt", EMPTY_README)
    ssm = ssm_backends[DEFAULT_ACCOUNT_ID][region]
    for name, value in AMI_PARAMETERS.items():
        if ssm.get_parameter(name) is None:
            ssm.put_parameter(
                name=name, description="ECS-optimized AMI (sandbox stand-in)", value=value,
                parameter_type="String", allowed_pattern=None, keyid=None, overwrite=True, tags=[],
                data_type="aws:ec2:image", tier=None, policies=None,
            )  # fmt: skip
