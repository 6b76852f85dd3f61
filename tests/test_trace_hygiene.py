"""@traced calls take keywords like the functions they wrap, and a call that raises is recorded with
what it raised (structured), not a placeholder string."""
import pytest

from conftest import dev, drv, make
from iommulab.kernel.trace import Raised


def gpu():
    return make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1)], drivers=[drv("nouveau")])


def test_api_function_takes_keyword_arguments():
    k = gpu()
    d = k.iommu_paging_domain_alloc(k.devices["0000:01:00.0"], name="mine")
    assert (d.name, d.user) == ("mine", False)
    ev = k.events[-1]
    assert (ev.func, ev.args[:2]) == ("iommu_paging_domain_alloc", ("0000:01:00.0", "'mine'"))
    u = k.iommu_paging_domain_alloc(k.devices["0000:01:00.0"], user=True)
    assert u.user is True


def test_keywords_the_function_does_not_take_still_raise_type_error():
    k = gpu()
    with pytest.raises(TypeError):
        k.iommu_paging_domain_alloc(k.devices["0000:01:00.0"], colour="red")
    with pytest.raises(TypeError):
        k.iommu_paging_domain_alloc()


def test_a_call_that_raises_is_recorded_with_the_exception_type():
    k = gpu()
    d = k.iommu_paging_domain_alloc(k.devices["0000:01:00.0"])
    with pytest.raises(AttributeError):
        k.iommu_attach_device(d, "not a device")          # API misuse: raises inside the call
    ev = k.events[-1]
    assert (ev.func, ev.depth, type(ev.result)) == ("iommu_attach_device", 0, Raised)
    assert (ev.result.type, ev.result.errno, ev.refused) == ("AttributeError", None, False)
    assert ev.as_dict()["result"] == {"raised": "AttributeError", "errno": None}
    assert repr(ev).endswith("= raised AttributeError>")


def test_raised_oserror_keeps_its_linux_errno():
    r = Raised(OSError(16, "Device or resource busy"))
    assert (r.type, r.errno, str(r)) == ("OSError", 16, "raised OSError (-EBUSY)")
    assert r.as_dict() == {"raised": "OSError", "errno": "EBUSY"}
