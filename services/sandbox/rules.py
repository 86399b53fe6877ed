"""Name prefixes that make the sandbox answer as Instagram does for unusual accounts and posts.

Profiles (username, compared lower-case):
- ``notfound...``  the user does not exist: the v1 paths answer HTTP 200 with an inner
  ``{"code": 400, "data": null}`` (as TikHub has been seen to do); v3 answers HTTP 404.
- ``private...``   a private account: ``is_private: true``; counts are still present, because
  Instagram shows them on private profiles too.
- ``nomedia...``   ``media_count: null`` in the flat v1 shape (seen on the real API at times);
  the v3 shape still carries the count.
- ``fewposts...``  a creator with 5 posts, all published in the days before the epoch.
- ``hiddenlikes...`` a creator who hides the like count of every post.

A private creator's feed lists no posts (Instagram shows them to followers only).

Posts (shortcode, case-sensitive):
- ``missing...``   HTTP 404 on every post path.
- ``img...``       a photo: ``media_type`` 1, ``is_video: false``, no play count.
- ``carousel...``  a carousel: ``media_type`` 8, ``is_video: false``, no play count.
- anything else    a reel: ``media_type`` 2, ``is_video: true``, with a play count.
"""

from enum import StrEnum


class ProfileRule(StrEnum):
    """How the sandbox treats a username."""

    NORMAL = "normal"
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    NO_MEDIA_COUNT = "no_media_count"
    FEW_POSTS = "few_posts"
    HIDDEN_LIKES = "hidden_likes"


class PostKind(StrEnum):
    """What kind of post a shortcode is, or that it does not exist."""

    VIDEO = "video"
    IMAGE = "image"
    CAROUSEL = "carousel"
    MISSING = "missing"


# Instagram's media_type codes.
MEDIA_TYPES = {PostKind.IMAGE: 1, PostKind.VIDEO: 2, PostKind.CAROUSEL: 8}


def profile_rule(username: str) -> ProfileRule:
    """The rule that applies to an already normalised (lower-case) username."""
    if username.startswith("notfound"):
        return ProfileRule.NOT_FOUND
    if username.startswith("private"):
        return ProfileRule.PRIVATE
    if username.startswith("nomedia"):
        return ProfileRule.NO_MEDIA_COUNT
    if username.startswith("fewposts"):
        return ProfileRule.FEW_POSTS
    if username.startswith("hiddenlikes"):
        return ProfileRule.HIDDEN_LIKES
    return ProfileRule.NORMAL


def post_kind(shortcode: str) -> PostKind:
    """The kind of post a shortcode names."""
    if shortcode.startswith("missing"):
        return PostKind.MISSING
    if shortcode.startswith("img"):
        return PostKind.IMAGE
    if shortcode.startswith("carousel"):
        return PostKind.CAROUSEL
    return PostKind.VIDEO
