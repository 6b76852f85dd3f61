"""iommulab: a kernel-faithful simulator of Linux DMA ownership (IOMMU groups, VFIO, iommufd).

`import iommulab` stays light: everything is imported on first use.
"""
__version__ = "0.1.0"

_LAZY = {"Kernel": ("iommulab.kernel.kernel", "Kernel"),
         "KernelCrashed": ("iommulab.kernel.kernel", "KernelCrashed"),
         "ScenarioError": ("iommulab.kernel.scenario", "ScenarioError"),
         "uapi": ("iommulab.uapi", None),
         "Lab": ("iommulab.widgets.lab", "Lab"),
         "Builder": ("iommulab.widgets.builder", "Builder"),
         "explain_group": ("iommulab.kernel.explain", "explain_group"),
         "explain_ownership": ("iommulab.kernel.explain", "explain_ownership"),
         "course": ("iommulab.course", None),
         "level": ("iommulab.course", "level"),
         "levels": ("iommulab.course", "levels"),
         "predict": ("iommulab.course.predict", None),
         "run_me_first": ("iommulab.course.setup", "run_me_first"),
         "quiz": ("iommulab.course.quiz", None),
         "Quiz": ("iommulab.course.quiz", "Quiz"),
         "sandbox": ("iommulab.course.sandbox", "sandbox")}

__all__ = sorted(_LAZY)


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'iommulab' has no attribute {name!r}") from None
    import importlib
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def run_shell(k, script):
    """What k.sh(script) runs (Kernel.sh looks it up here, so the kernel imports nothing above
    it): the kernel's shell session runs the text; loads iommulab.shell on first use."""
    from .shell import session_for
    return session_for(k).run(script)


def load_ipython_extension(ipython):
    """`%load_ext iommulab` registers the %%iommush cell magic."""
    from .shell.magic import register
    register(ipython)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
