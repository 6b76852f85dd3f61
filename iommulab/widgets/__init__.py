"""ipywidgets front ends (imported lazily: `import iommulab` does not load ipywidgets)."""


def __getattr__(name):
    if name == "Lab":
        from .lab import Lab
        return Lab
    if name == "LevelLab":
        from .level import LevelLab
        return LevelLab
    if name == "Predict":
        from .predict import Predict
        return Predict
    raise AttributeError(name)
