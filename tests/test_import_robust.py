"""Issue 19, "Bad files and inputs" → import-host: clear errors, never a traceback, never a block,
never a silent truncation."""
import os

from iommulab import cli
from iommulab.hostimport import MAX_ENTRIES, parse_dirs, parse_text

LISTING = "IOMMU group 1 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [10de:1b80]\n"


def run(capsys, *args):
    code = cli.main(["import-host", *args])
    return code, capsys.readouterr().err


def test_output_into_a_missing_directory_or_onto_a_directory_is_an_error(tmp_path, capsys):
    src = tmp_path / "l.txt"
    src.write_text(LISTING)
    code, err = run(capsys, str(src), "-o", str(tmp_path / "nodir" / "x.toml"))
    assert code == 2 and "No such file or directory (make the directory first)" in err and "Traceback" not in err
    code, err = run(capsys, str(src), "-o", str(tmp_path))
    assert code == 2 and err.startswith(f"iommulab import-host: -o {tmp_path}: Is a directory")


def test_output_onto_a_file_it_may_not_write_is_an_error(tmp_path, capsys, monkeypatch):
    src = tmp_path / "l.txt"
    src.write_text(LISTING)

    def refused(path, *a, **kw):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(cli, "open", refused, raising=False)      # as root, chmod 444 would not stop us
    code, err = run(capsys, str(src), "-o", str(tmp_path / "ro.toml"))
    assert code == 2 and "-o" in err and "Permission denied" in err


def test_a_fifo_is_refused_not_read_and_a_fifo_named_type_is_not_opened(tmp_path, capsys):
    fifo = tmp_path / "paste"
    os.mkfifo(fifo)
    code, err = run(capsys, str(fifo))
    assert code == 2 and "not a regular file" in err
    groups = tmp_path / "iommu_groups"
    (groups / "1" / "devices").mkdir(parents=True)
    (groups / "1" / "devices" / "0000:01:00.0").mkdir()
    os.mkfifo(groups / "1" / "type")                    # opening it to read would block for ever
    lst = parse_dirs(str(groups))
    assert list(lst.devices) == ["0000:01:00.0"] and lst.types == {}


def test_pci_devices_copied_with_their_links_says_why_no_ids_were_read(tmp_path):
    groups = tmp_path / "copy" / "iommu_groups"
    (groups / "1" / "devices").mkdir(parents=True)
    os.symlink("../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0", groups / "1" / "devices" / "0000:01:00.0")
    pci = tmp_path / "copy" / "pci-devices"
    pci.mkdir()
    os.symlink("../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0", pci / "0000:01:00.0")   # as cp -r copies
    lst = parse_dirs(str(groups), str(pci))
    assert "id" not in lst.devices["0000:01:00.0"]
    assert any("leading out of the copied folder" in t and "cp -rL" in t for _n, t in lst.notes)
    real = tmp_path / "elsewhere" / "0000:01:00.0"                # copied with cp -rL, kept apart
    real.mkdir(parents=True)
    for f, v in (("vendor", "0x10de"), ("device", "0x1b80"), ("class", "0x030000")):
        (real / f).write_text(v + "\n")
    lst = parse_dirs(str(groups), str(tmp_path / "elsewhere"))
    assert lst.devices["0000:01:00.0"]["id"] == "10de:1b80" and not lst.notes


def test_more_groups_than_the_reader_takes_is_said(tmp_path):
    groups = tmp_path / "iommu_groups"
    groups.mkdir()
    for n in range(MAX_ENTRIES + 3):
        (groups / str(n) / "devices").mkdir(parents=True)
    (groups / "0" / "devices" / "0000:00:00.0").mkdir()
    lst = parse_dirs(str(groups))
    assert any(f"has {MAX_ENTRIES + 3} groups: only the first {MAX_ENTRIES} were read" in t for _n, t in lst.notes)


def test_a_huge_line_is_skipped_not_made_a_device_name_and_a_huge_file_refused(tmp_path, capsys):
    lst = parse_text(LISTING + "IOMMU group 2 " + "x" * 5_000_000 + "\n", "paste.txt")
    assert list(lst.devices) == ["0000:01:00.0"]
    ((n, text, why),) = lst.skipped
    assert n == 2 and len(text) <= 200 and why == "5,000,014 characters long: no line of a listing is"
    big = tmp_path / "big.txt"
    with open(big, "w") as f:
        f.write(LISTING * 200_000)                      # 18 MB
    code, err = run(capsys, str(big))
    assert code == 2 and "larger than 8 MB" in err
