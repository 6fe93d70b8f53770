"""The ODM images the operator picks for jobs that name none are pinned: a release tag or a digest, never ODM's
moving tags (latest, gpu: rebuilt from master on every push)."""

import pytest
from pydantic import ValidationError

from odm_operator.settings import Settings

DIGEST = "opendronemap/odm@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("field", "image", "reason"),
    [
        ("odm_image", "opendronemap/odm:3.6.0", "a release tag"),
        ("odm_gpu_image", DIGEST, "a digest"),
        (
            "odm_gpu_image",
            "111122223333.dkr.ecr.eu-west-1.amazonaws.com/odm:3.6.0-gpu",
            "an admin's own build",
        ),
        ("odm_gpu_image", None, "none: GPU jobs name their own"),
        ("odm_image", "registry.local:5000/odm:3.6.0", "a registry port is not a tag"),
    ],
)
def test_pinned_images_are_accepted(field, image, reason):
    assert getattr(Settings(**{field: image}), field) == image, reason


@pytest.mark.parametrize(
    ("field", "image", "reason"),
    [
        ("odm_gpu_image", "opendronemap/odm:gpu", "ODM's GPU tag follows master"),
        ("odm_image", "opendronemap/odm:latest", "latest moves"),
        ("odm_image", "opendronemap/odm", "no tag is latest"),
        ("odm_image", "registry.local:5000/odm", "a port is not a tag"),
    ],
)
def test_moving_tags_are_refused(field, image, reason):
    with pytest.raises(ValidationError, match="moving tag"):
        Settings(**{field: image})


def test_the_gpu_default_is_no_image_rather_than_a_moving_tag():
    assert Settings().odm_gpu_image is None
