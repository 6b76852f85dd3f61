"""Kernel parameters from the command line (kernel/params.c parse_args(), and the __setup
handlers of the IOMMU core), and the default domain type they choose."""
from .iommu import DOMAIN_DMA, DOMAIN_DMA_FQ, DOMAIN_IDENTITY
from .kstrtox import kstrtobool


def params_from_cmdline(cmdline, f, arch="x86_64", config=None):
    """Module and early parameters of the command line. A bool module parameter goes through
    param_set_bool() (kernel/params.c): no "=" means true, otherwise kstrtobool(), and a value it
    refuses leaves the default. iommu.strict= and iommu.passthrough= are early_params whose
    handlers (iommu_dma_setup(), iommu_set_def_domain_type()) call kstrtobool() on the value:
    without one, or with one it refuses, they stay unset. vfio's enable_unsafe_noiommu_mode exists
    only with CONFIG_VFIO_NOIOMMU (its module_param_named() sits in an #if in vfio_main.c), and
    vfio_iommu_type1 is not built where iommufd provides /dev/vfio/vfio (CONFIG_VFIO_CONTAINER depends
    on !CONFIG_IOMMUFD_VFIO_CONTAINER, drivers/vfio/Kconfig)."""
    params = {"iommufd.allow_unsafe_interrupts": False,
              "vfio_iommu_type1.allow_unsafe_interrupts": False,
              "vfio_platform.reset_required": True, "vfio.enable_unsafe_noiommu_mode": False,
              "vfio_pci.ids": "", "pci_stub.ids": "", "vfio_pci.enable_sriov": False, "iommu.strict": None,
              "iommu.passthrough": None}
    for word in cmdline.split():
        key, eq, value = word.partition("=")
        mod, dot, name = key.partition(".")
        if dot:
            key = f"{mod.replace('-', '_')}.{name}"
        if key in ("iommufd.allow_unsafe_interrupts", "vfio_iommu_type1.allow_unsafe_interrupts",
                   "vfio_platform.reset_required", "vfio.enable_unsafe_noiommu_mode"):
            _set_bool(params, key, value if eq else "1", f)
        elif key in ("iommu.strict", "iommu.passthrough"):
            _set_bool(params, key, value, f)
        elif key == "iommu" and value in ("pt", "nopt") and arch == "x86_64":
            params["iommu.passthrough"] = value == "pt"     # iommu_setup(), arch/x86/kernel/pci-dma.c
        elif key == "vfio_pci.enable_sriov":
            _set_bool(params, key, value if eq else "1", f)
        else:
            params[key] = value
    if config is not None and not config.get("CONFIG_VFIO_NOIOMMU", True):
        del params["vfio.enable_unsafe_noiommu_mode"]
    if config is not None and config.get("CONFIG_IOMMUFD_VFIO_CONTAINER"):    # VFIO_CONTAINER off: no type1
        del params["vfio_iommu_type1.allow_unsafe_interrupts"]
    if config is not None and not (f.iommufd and config.get("CONFIG_IOMMUFD")):   # no iommufd built
        del params["iommufd.allow_unsafe_interrupts"]
    return params


def _set_bool(params, key, value, f):
    rc, on = kstrtobool(value, f)
    if rc == 0:
        params[key] = on


def default_domain_type(params, arch="x86_64"):
    """iommu_subsys_init(): passthrough → identity; iommu.strict= decides strict (DMA) or lazy
    (DMA-FQ); without it the Kconfig default, lazy only on x86 and s390
    (CONFIG_IOMMU_DEFAULT_DMA_LAZY, drivers/iommu/Kconfig, 5.15), strict elsewhere (arm64)."""
    if params.get("iommu.passthrough"):
        return DOMAIN_IDENTITY
    strict = params.get("iommu.strict")
    if strict is None:
        strict = arch != "x86_64"
    return DOMAIN_DMA if strict else DOMAIN_DMA_FQ
