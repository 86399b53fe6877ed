"""Usernames and post URLs as clients type them: normalised, or refused with a reason."""

import pytest

from shared.instagram import InvalidInstagramInput, parse_post_url, parse_username


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("instagram", "instagram"),
        ("@instagram", "instagram"),
        ("  @NatGeo  ", "natgeo"),
        ("Cristiano", "cristiano"),
        ("a", "a"),
        ("user.name_99", "user.name_99"),
        ("_under_", "_under_"),
        ("x" * 30, "x" * 30),
        ("123456", "123456"),
        ("\t@the.rock\n", "the.rock"),
    ],
)
def test_usernames_are_normalised(raw: str, expected: str) -> None:
    assert parse_username(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("@", "empty"),
        ("@@instagram", "only letters"),
        ("x" * 31, "must have at most 30 characters, not 31"),
        ("user name", "only letters"),
        ("..", "start or end with '.'"),
        (".hidden", "start or end with '.'"),
        ("trailing.", "start or end with '.'"),
        ("two..dots", "two '.' in a row"),
        ("user-name", "'-'"),
        ("héllo", "only letters"),
        ("user!", "'!'"),
        ("https://instagram.com/user", "only letters"),
        ("名前", "only letters"),
    ],
)
def test_bad_usernames_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInstagramInput, match=reason):
        parse_username(raw)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://www.instagram.com/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("https://instagram.com/p/CxYQJO8xuC6", "CxYQJO8xuC6"),
        ("http://www.instagram.com/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("https://www.instagram.com/reel/C1a2B3c4D5e/", "C1a2B3c4D5e"),
        ("https://www.instagram.com/reels/C1a2B3c4D5e/", "C1a2B3c4D5e"),
        ("https://www.instagram.com/tv/B_x-y_Z12/", "B_x-y_Z12"),
        ("https://www.instagram.com/natgeo/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("https://www.instagram.com/p/CxYQJO8xuC6/?utm_source=ig_web_copy_link", "CxYQJO8xuC6"),
        ("https://www.instagram.com/p/CxYQJO8xuC6/#comments", "CxYQJO8xuC6"),
        ("https://www.instagram.com/reel/C1a2B3c4D5e/?igsh=MXh2&img_index=1", "C1a2B3c4D5e"),
        ("  https://WWW.Instagram.com/p/CxYQJO8xuC6/  ", "CxYQJO8xuC6"),
        ("www.instagram.com/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("instagram.com/reel/C1a2B3c4D5e", "C1a2B3c4D5e"),
        ("https://m.instagram.com/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("https://instagr.am/p/CxYQJO8xuC6/", "CxYQJO8xuC6"),
        ("instagr.am/reel/C1a2B3c4D5e", "C1a2B3c4D5e"),
        # A bare shortcode, as copied from the end of a link; its case is part of it.
        ("CxYQJO8xuC6", "CxYQJO8xuC6"),
        (" B_x-y_Z12 ", "B_x-y_Z12"),
    ],
)
def test_post_urls_yield_their_shortcode(url: str, code: str) -> None:
    assert parse_post_url(url) == code


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("https://www.tiktok.com/p/CxYQJO8xuC6/", "instagram.com"),
        ("https://instagram.com.evil.example/p/CxYQJO8xuC6/", "instagram.com"),
        ("https://evilinstagram.com/p/CxYQJO8xuC6/", "instagram.com"),
        ("ftp://www.instagram.com/p/CxYQJO8xuC6/", "http"),
        ("https://www.instagram.com/natgeo/", "must look like"),
        ("https://www.instagram.com/", "must look like"),
        ("https://www.instagram.com/p/", "must look like"),
        ("https://www.instagram.com/stories/natgeo/123/", "must look like"),
        ("https://www.instagram.com/p/CxYQJO8xuC6/embed/", "must look like"),
        ("https://www.instagram.com/p/Cx%20YQ/", "post code"),
        ("https://www.instagram.com/p/Cx.YQ/", "post code"),
        ("https://www.instagram.com/bad user/p/CxYQJO8xuC6/", "username"),
        ("not a url at all", "instagram.com"),
        ("https://[::1/p/x", "valid URL"),
        ("https://instagram.com@evil.example/p/CxYQJO8xuC6/", "user name or password"),
        ("https://user:secret@www.instagram.com/p/CxYQJO8xuC6/", "user name or password"),
        ("https://www.instagram.com/p/" + "x" * 65 + "/", "must have at most 64 characters"),
        ("https://www.instagram.com/two..dots/p/CxYQJO8xuC6/", "two '.' in a row"),
    ],
)
def test_bad_post_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidInstagramInput, match=reason):
        parse_post_url(url)
