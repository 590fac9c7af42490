"""The shared world builds, and names an object for every id a URL pattern takes."""

from __future__ import annotations

from tests.security.world import PK_OF, build_world


def test_the_world_builds_one_of_every_object_with_a_far_side(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    world = build_world()
    for keys in PK_OF.values():
        for key in keys.values():
            assert world.obj(key).pk
    assert world.kwargs_for("sales:opportunity-detail", ["pk"], far=True) != (
        world.kwargs_for("sales:opportunity-detail", ["pk"])
    )
