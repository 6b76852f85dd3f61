"""Issue 19: the Builder's export to a bad path says why in words (no raw Python error), and a
later success clears it."""
from iommulab.widgets.builder import Builder


def test_export_to_a_bad_path_is_said_in_words_and_cleared_by_a_success(tmp_path):
    b = Builder()
    b.path.value = str(tmp_path / "missing" / "x.toml")
    b.export_b.click()
    assert b.error.value == (f"refused: cannot save to {tmp_path / 'missing' / 'x.toml'}: No such file or "
                             "directory (make the directory first) — nothing changed")
    assert "Error" not in b.error.value                   # not FileNotFoundError's name
    b.path.value = str(tmp_path)
    b.export_b.click()
    assert "Is a directory" in b.error.value
    b.path.value = str(tmp_path / "mine.toml")
    b.export_b.click()
    assert b.error.value == "" and (tmp_path / "mine.toml").exists()
    b.path.value = str(tmp_path / "missing" / "x.toml")
    b.export_b.click()
    b.add("nvme")                                          # any later success clears the refusal
    assert b.error.value == ""
