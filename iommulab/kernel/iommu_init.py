"""What a host prints while it boots up to its IOMMU, and the command line it booted with.

start_kernel() (init/main.c) and x86's setup_arch() print the banner and the command line;
iommu_subsys_init() (drivers/iommu/iommu.c) the default domain type; then the IOMMU driver of
the scenario's `iommu_driver` says what it found: intel_iommu_init() with dmar.c (prefix
"DMAR: "), amd_iommu_init() in drivers/iommu/amd/init.c ("AMD-Vi: "), arm_smmu_device_probe()
of arm-smmu-v3.c and arm-smmu.c (dev_info of the SMMU's platform device). Hardware register
values the model does not have are a fixed, plausible skeleton; only lines whose content the
model decides (enabled, domain type, command-line origin, interrupt remapping) vary.
"""
from .iommu import DOMAIN_DMA, DOMAIN_IDENTITY

UNAME_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}     # utsname()->machine
_BASE_CMDLINE = "root=/dev/sda1 ro"
# Words of the command line the kernel itself parses (__setup / early_param) in this model's
# world; any other word without a dot is "unknown" and passed on to init (86d1919a4fb0, 5.14).
_KNOWN_WORDS = frozenset(("root", "ro", "rw", "quiet", "splash", "console", "loglevel", "init",
                          "pci", "nomodeset", "isolcpus", "hugepages", "hugepagesz",
                          "default_hugepagesz", "mitigations", "video", "nokaslr"))
_X86_WORDS = frozenset(("intel_iommu", "amd_iommu", "iommu"))      # arch/x86 and its IOMMU drivers
SMMU_V3_DEV = "arm-smmu-v3 arm-smmu-v3.0.auto"      # the IORT-described SMMU's platform device
SMMU_V2_DEV = "arm-smmu arm-smmu.0.auto"


def kernel_release(k):
    """utsname()->release as uname -r prints it: "6.6" → "6.6.0"."""
    r = k.f.release
    return r if r.count(".") == 2 else (r + ".0" if r[0].isdigit() else r)


def uname_machine(k):
    return UNAME_MACHINE.get(k.arch, k.arch)


def saved_command_line(k):
    """/proc/cmdline: what the boot loader passed (GRUB's BOOT_IMAGE=, root=, ro) and the
    scenario's parameters."""
    extra = f" {k.cmdline}" if k.cmdline.strip() else ""
    return f"BOOT_IMAGE=/boot/vmlinuz-{kernel_release(k)} {_BASE_CMDLINE}{extra}"


def _unknown_params(k, cmdline):
    known = _KNOWN_WORDS | (_X86_WORDS if k.arch == "x86_64" else frozenset())
    words = []
    for word in cmdline.split():
        key = word.partition("=")[0]
        if "." not in key and key not in known:
            words.append(word)
    return words


def start_kernel(k):
    """The banner, "Command line:" (x86's setup_arch only), "Kernel command line:", what the
    __setup handlers say, and the parameters handed to user space."""
    cmdline = saved_command_line(k)
    k.printk(f"Linux version {kernel_release(k)} (builder@localhost) #1 SMP PREEMPT_DYNAMIC")
    if k.arch == "x86_64":
        k.printk(f"Command line: {cmdline}")
    k.printk(f"Kernel command line: {cmdline}")
    for word in k.cmdline.split():                   # parse_args(): __setup handlers in order
        if word.startswith("intel_iommu="):
            intel_iommu_setup(k, word[len("intel_iommu="):])
    unknown = _unknown_params(k, cmdline)            # print_unknown_bootoptions(), after parse_args()
    if unknown:
        k.printk(f"Unknown kernel command line parameters \"{' '.join(unknown)}\", "
                 "will be passed to user space.")


_INTEL_OPTIONS = ("on", "off", "igfx_off", "forcedac", "strict", "sp_off", "sm_on", "sm_off",
                  "tboot_noforce")


def intel_iommu_setup(k, value):
    """__setup("intel_iommu="): each comma-separated option is matched by prefix; "on" says so,
    an option it does not know gets a notice naming the rest of the string (the parser is
    built in whichever IOMMU the machine has). Other known options print nothing here."""
    rest = value
    while rest:
        opt = next((o for o in _INTEL_OPTIONS if rest.startswith(o)), None)
        if opt == "on" and k.iommu_driver == "intel":
            k.printk("DMAR: IOMMU enabled")
        elif opt is None:
            k.printk(f"DMAR: Unknown option - '{rest}'")
        rest = rest[rest.find(",") + 1:].lstrip(",") if "," in rest else ""


def _suffix(k, flag):
    """" (set via kernel command line)"; before 6.5 (32261d10943b) the format had a space
    before the suffix, so a line without it ends in a space."""
    if k.f.iommu_log_no_trailing_space:
        return " (set via kernel command line)" if flag else ""
    return " (set via kernel command line)" if flag else " "


def iommu_subsys_init(k):
    """The default domain type and, for translated domains, the TLB invalidation policy."""
    dtype = k.default_domain_type
    name = "Passthrough" if dtype == DOMAIN_IDENTITY else "Translated"
    # IOMMU_CMD_LINE_DMA_API: iommu.passthrough=, or iommu=pt/nopt on x86 (the kernel's params)
    k.printk(f"iommu: Default domain type: {name}{_suffix(k, k.params['iommu.passthrough'] is not None)}")
    if dtype != DOMAIN_IDENTITY:
        strict = dtype == DOMAIN_DMA
        k.printk(f"iommu: DMA domain TLB invalidation policy: {'strict' if strict else 'lazy'} mode"
                 f"{_suffix(k, k.params['iommu.strict'] is not None)}")


def iommu_driver_probe(k):
    """What the IOMMU driver prints before it registers (and so before the groups appear)."""
    drv = k.iommu_driver
    if drv == "intel":
        k.printk("DMAR: Host address width 39")
        k.printk("DMAR: DRHD base: 0x000000fed90000 flags: 0x1")
        if k.msi_isolation:
            k.printk("DMAR-IR: Enabled IRQ remapping in x2apic mode")
    elif drv == "amd":
        if k.msi_isolation:
            k.printk("AMD-Vi: Interrupt remapping enabled")
    elif drv == "arm-smmu-v3":
        k.printk(f"{SMMU_V3_DEV}: option mask 0x0")
        k.printk(f"{SMMU_V3_DEV}: ias 48-bit, oas 48-bit (features 0x00000fef)")
        k.printk(f"{SMMU_V3_DEV}: allocated 65536 entries for cmdq")
        k.printk(f"{SMMU_V3_DEV}: allocated 32768 entries for evtq")
    elif drv == "arm-smmu":
        k.printk(f"{SMMU_V2_DEV}: probing hardware configuration...")
        k.printk(f"{SMMU_V2_DEV}: SMMUv2 with:")
        k.printk(f"{SMMU_V2_DEV}: \tstage 1 translation")
        k.printk(f"{SMMU_V2_DEV}: \tstage 2 translation")


def iommu_driver_registered(k):
    """After the groups: Intel's closing line of intel_iommu_init()."""
    if k.iommu_driver == "intel":
        k.printk("DMAR: Intel(R) Virtualization Technology for Directed I/O")


def vfio_init(k):
    """vfio.ko's module init (drivers/vfio/vfio_main.c): DRIVER_DESC and DRIVER_VERSION."""
    k.printk("VFIO - User Level meta-driver version: 0.3")
