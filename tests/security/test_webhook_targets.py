"""Findings: a webhook URL with port 99999 was accepted; the SSRF guard failed open on
names that did not resolve, resolved the name again when connecting (a DNS rebinding
window) and let `[::1%25lo]` through. Pure checks here; the delivery path is in
test_webhooks.py."""

import pytest

from services.notifier.targets import (
    Resolver,
    Target,
    TargetRefused,
    checked_addresses,
    parse_target,
)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://crm.example.com:99999/hook", "port"),
        ("https://crm.example.com:0/hook", "port"),
        ("https://crm.example.com:http/hook", "port"),
        ("ftp://crm.example.com/hook", "http"),
        ("//crm.example.com/hook", "http"),
        ("https:///hook", "host"),
        ("https://user:pass@crm.example.com/hook", "user"),
        ("http://[::1%25lo]/hook", "zone"),
        ("http://[fe80::1%eth0]:8080/hook", "zone"),
        ("https://bad_host!.example.com/hook", "host name"),
        ("https://-lead.example.com/hook", "host name"),
        ("https://" + "a" * 64 + ".example.com/hook", "host name"),
    ],
)
def test_registration_refuses_urls_that_cannot_be_called(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_target(url)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "https://crm.example.com/hooks?x=1",
            Target("https", "crm.example.com", 443, "/hooks?x=1"),
        ),
        ("http://crm.example.com:8080", Target("http", "crm.example.com", 8080, "/")),
        ("https://[2001:db8::5]:65535/h", Target("https", "2001:db8::5", 65535, "/h")),
        ("https://bücher.example/h", Target("https", "bücher.example", 443, "/h")),
    ],
)
def test_valid_urls_parse(url: str, target: Target) -> None:
    assert parse_target(url) == target


def test_the_request_goes_to_the_checked_address_with_the_name_as_host() -> None:
    target = parse_target("https://crm.example.com:8443/hooks?x=1")
    assert target.url_at("203.0.113.7") == "https://203.0.113.7:8443/hooks?x=1"
    assert target.url_at("2001:db8::7") == "https://[2001:db8::7]:8443/hooks?x=1"
    assert target.host_header == "crm.example.com:8443"
    assert parse_target("https://crm.example.com/h").host_header == "crm.example.com"


def resolver(answers: dict[str, list[str]]) -> tuple[list[str], Resolver]:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(f"{host}:{port}")
        return answers.get(host, [])

    return asked, resolve


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ([], "does not resolve"),
        (["93.184.216.34", "10.0.0.5"], "not allowed: crm.example.com -> 10.0.0.5"),
        (["127.0.0.1"], "not allowed"),
        (["169.254.169.254"], "not allowed"),
        (["::ffff:127.0.0.1"], "not allowed"),
        (["fe80::1%eth0"], "not allowed"),
        (["2001:db8::1"], "not allowed"),  # documentation range: not global
    ],
)
async def test_every_resolved_address_must_be_public(answer: list[str], refusal: str) -> None:
    asked, resolve = resolver({"crm.example.com": answer})
    with pytest.raises(TargetRefused, match=refusal):
        await checked_addresses(
            parse_target("https://crm.example.com/h"), resolve, allow_private=False
        )
    assert asked == ["crm.example.com:443"]


async def test_public_addresses_are_returned_from_a_single_resolution() -> None:
    asked, resolve = resolver({"crm.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    target = parse_target("https://crm.example.com/h")
    found = await checked_addresses(target, resolve, allow_private=False)
    private_ok = await checked_addresses(
        parse_target("http://127.0.0.1:9/h"),
        resolver({"127.0.0.1": ["127.0.0.1"]})[1],
        allow_private=True,
    )
    assert found == ["93.184.216.34", "2606:2800:220:1::1"]
    assert asked == ["crm.example.com:443"]
    assert private_ok == ["127.0.0.1"]
