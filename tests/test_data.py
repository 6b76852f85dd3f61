"""tests/data/ holds what the tests read, so the suite runs in a clone without ../shared beside it.
Where ../shared is present, its copies in tests/data/ must still match it byte for byte."""
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
COPIES = {"real-hosts": "ground-truth/real-hosts"}       # tests/data/<key> copies shared/<value>
OUR_NOTES = {"README.md"}                                # our own note on the copy, not compared


@pytest.mark.parametrize("name", sorted(COPIES))
def test_the_copies_hold_listings_and_their_expected_groups(name):
    listings = sorted(p.stem for p in (DATA / name).glob("*.txt"))
    assert listings, f"tests/data/{name} holds no listing"
    assert sorted(p.name[:-len(".expected.json")] for p in (DATA / name).glob("*.expected.json")) == listings


@pytest.mark.parametrize("name", sorted(COPIES))
def test_the_copies_match_shared_where_it_is_present(name):
    source = SHARED / COPIES[name]
    if not source.is_dir():
        pytest.skip(f"no {source} beside this clone: nothing to compare the copy with")
    ours = {p.name: p.read_bytes() for p in (DATA / name).iterdir() if p.name not in OUR_NOTES}
    theirs = {p.name: p.read_bytes() for p in source.iterdir() if p.name not in OUR_NOTES}
    assert sorted(ours) == sorted(theirs), f"tests/data/{name} lists other files than shared/: copy them again"
    assert [n for n in ours if ours[n] != theirs[n]] == [], "copies differ from shared/: copy them again"
