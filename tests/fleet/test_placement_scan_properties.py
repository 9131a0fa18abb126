"""The fast shard-placement scan never disagrees with the full reader.

A stack's program skips a tenant file whose `region`/`shard` lines place it in another shard, without
reading it as YAML. If the scan and the full reading could differ, a tenant would be left out of every
stack (and the next `up` of its shard would delete its grant, job and password). So whenever the scan is
sure, the full reading must succeed and give the same region and shard; for everything else it says None.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from railzway.registry.loader import _FileProblem, _parse, _placement

_KEYS = ["region", "shard", "org_id", "tier", "downgrade", "at", '"shard"', "k" * 1030, "on", "- region"]
_SEPARATORS = [": ", ":", ":  ", ":\t", " : ", "?"]
_VALUES = [
    "eu-west",
    "us-east",
    "null",
    "yes",
    "off",
    "~",
    "0",
    "1",
    "2",
    "01",
    "0x1",
    "1_0",
    "+1",
    "1.0",
    '"eu-west"',
    "'1'",
    '"a\\"b"',
    "",
    "[1]",
    "{a: 1}",
    "&a eu-west",
    "*a",
    "!!str 1",
    "|",
    ">",
    "- 1",
    "eu west",
    "eu-west#x",
    "2026-12-31",
    "'it''s'",
    '"',
    "eu-west\t",
]
_COMMENTS = ["", " # c", "# c", "  #", " # placed\rshard: 9", " # é ü ∑"]
_INDENTS = ["", " ", "  ", "    ", "\t", "\ufeff"]
_BREAKS = ["\n", "\n", "\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"]
_EXTRA = ["---", "...", "%YAML 1.1", "# only a comment", "", "   ", "- x", "\x7f", "\x01"]

_line = st.one_of(
    st.builds(
        lambda indent, key, sep, value, comment: indent + key + sep + value + comment,
        st.sampled_from(_INDENTS),
        st.sampled_from(_KEYS),
        st.sampled_from(_SEPARATORS),
        st.sampled_from(_VALUES),
        st.sampled_from(_COMMENTS),
    ),
    st.sampled_from(_EXTRA),
)


@st.composite
def _files(draw: st.DrawFn) -> str:
    lines = draw(st.lists(_line, min_size=1, max_size=10))
    # Most files start from a placeable tenant, so the scan is sure often enough to be tested.
    if draw(st.booleans()):
        lines = ["org_id: 5", "tier: starter", 'version: "1.8.2"', "region: eu-west", "shard: 1", *lines]
    breaks = draw(st.lists(st.sampled_from(_BREAKS), min_size=len(lines), max_size=len(lines)))
    return "".join(line + end for line, end in zip(lines, breaks, strict=True))


def agrees_with_the_full_reading(text: str) -> None:
    raw = text.encode("utf-8", errors="surrogatepass")
    placed = _placement(raw)
    if placed is None:
        return
    try:
        data = _parse(raw).data
    except _FileProblem as e:
        raise AssertionError(f"scan placed {placed} but the full reading refuses the file: {e.message}") from None
    region, shard = data.get("region"), data.get("shard")
    assert type(region) is str and type(shard) is int, (region, shard)
    assert (region, shard) == placed


_settings = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(_files())
def test_the_scan_agrees_with_the_full_reading_on_generated_tenant_files(text: str) -> None:
    agrees_with_the_full_reading(text)


@_settings
@given(st.text(alphabet=st.sampled_from(list("regionshard:_ #'\"-01\n\r\t\x85\u2028[]{}&*!|>%.")), max_size=120))
def test_the_scan_agrees_with_the_full_reading_on_random_text(text: str) -> None:
    agrees_with_the_full_reading("region: eu-west\nshard: 0\n" + text)


@_settings
@given(st.text(max_size=200))
def test_the_scan_agrees_with_the_full_reading_on_any_text(text: str) -> None:
    agrees_with_the_full_reading(text)
