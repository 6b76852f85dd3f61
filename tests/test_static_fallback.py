"""Every widget's static stand-in (issue 15, "a static fallback for every widget"): its output
carries text/html beside the widget view, which a front end without a widget renderer shows
(nbconvert's HTML, a Jupyter Book, VS Code without widgets): the picture and the plot as images,
the goal and the question as text. And the "run me first" check, which says what is missing."""
import re

import pytest

pytest.importorskip("ipywidgets")

import iommulab                                  # noqa: E402
from iommulab import Kernel, Lab                 # noqa: E402
from iommulab.course import predict, setup       # noqa: E402

VIEW = "application/vnd.jupyter.widget-view+json"


def bundle(widget):
    data = widget._repr_mimebundle_()
    assert VIEW in data and "text/plain" in data
    return data["text/html"]


def test_the_lab_stands_in_with_its_picture_plot_and_header():
    k = Kernel.from_scenario("desktop-gpu")
    lab = Lab(k)
    lab.sh("echo 0000:01:00.1 > /sys/bus/pci/drivers/snd_hda_intel/unbind")
    page = bundle(lab)
    assert "<svg" in page and "IOMMU group 1" in page                       # the picture as it is now
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)   # the plot
    assert "A desktop GPU" in page and "step 1 of 1" in page                 # the header
    assert "group 1: owner_cnt 2 → 1" in page                                # the log beside it
    assert "<button" not in page and "<select" not in page                   # no control that would do nothing


def test_a_level_stands_in_with_its_goal_in_words():
    lv = iommulab.level("gpu-passthrough")
    from iommulab.widgets.level import LevelLab
    page = bundle(LevelLab(lv))
    assert "Level: Give the GPU to a virtual machine" in page
    for words in lv.goal_words():
        assert words.split(":")[0][:30] in page
    assert page.count("<svg") >= 2                                           # now, the goal, the lab


def test_a_question_stands_in_with_its_text_and_choices():
    q = predict.viable(Kernel.from_scenario("desktop-gpu"), 1)
    from iommulab.widgets.predict import Predict
    page = bundle(Predict(q))
    assert q.text[:40] in page.replace("&#x27;", "'")
    for choice in q.choices or ():
        assert f"<li>{choice}</li>" in page


def test_a_seeded_problem_stands_in_with_its_text():
    from iommulab.course import quiz
    p = quiz.problem(3)
    page = bundle(iommulab.Quiz(3))
    assert p.text().splitlines()[0][:30] in page


def test_run_me_first_says_widgets_do_not_render_in_its_static_copy():
    box = iommulab.run_me_first()
    data = box._repr_mimebundle_()
    assert "widgets render" in box.value and "static copy" not in box.value
    assert "static copy" in data["text/html"] and "jupyterlab_widgets" in data["text/html"]
    assert box.setup.ok and data["text/plain"].startswith("ready")


def test_run_me_first_says_what_to_do_without_graphviz(monkeypatch):
    monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    s = setup.check()
    item = next(i for i in s.items if i.name == "Graphviz")
    assert not s.ok and not item.ok and "system-deps.sh" in item.fix
    assert "NO  Graphviz" in s.text() and "to fix" in s.html(widgets_render=True)
