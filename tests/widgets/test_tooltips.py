"""Every control of every dock says what it does: its tooltip is the option's one description."""

from __future__ import annotations

import pytest
from magicgui.widgets import Container, Label, ProgressBar, Table

from napari_unet.core.options import OPTIONS
from napari_unet.widgets.annotate import AnnotateWidget
from napari_unet.widgets.predict import PredictWidget
from napari_unet.widgets.train import TrainWidget
from napari_unet.widgets.weightmap import WeightMapWidget

DESCRIPTIONS = {text for section in OPTIONS.values() for text in section.values()}
DISPLAYS = (Label, ProgressBar, Table)  # they show, the user does not set them


def controls(widget):
    """The input controls (value widgets and buttons) inside ``widget``, recursively."""
    found = []
    for child in widget:
        if isinstance(child, DISPLAYS):
            continue
        plain = isinstance(child, Container) and not hasattr(child, "value")
        if type(child) is Container or plain:
            found += controls(child)
        else:
            found.append(child)
    return found


def dock_controls(dock):
    parts = [dock]
    if isinstance(dock, TrainWidget):
        parts.append(dock._form)  # added to the dock's scroll area, not as a magicgui child
    if isinstance(dock, PredictWidget):
        parts.append(dock._evaluate.panel)  # the Evaluate section
    return [c for part in parts for c in controls(part)]


@pytest.mark.parametrize("cls", [AnnotateWidget, WeightMapWidget, TrainWidget, PredictWidget])
def test_every_control_has_the_options_description_as_tooltip(make_napari_viewer, cls):
    viewer = make_napari_viewer()
    dock = cls(viewer)
    viewer.window.add_dock_widget(dock)
    found = dock_controls(dock)
    assert len(found) >= 5, found  # the walk really reached the controls
    missing = [c.label or c.text for c in found if not c.tooltip]
    assert not missing, f"{cls.__name__}: no tooltip on {missing}"
    foreign = [c.tooltip for c in found if c.tooltip not in DESCRIPTIONS]
    assert not foreign, f"{cls.__name__}: tooltips not from the option table: {foreign}"


def test_descriptions_are_sentences_with_content():
    for options in OPTIONS.values():
        for key, text in options.items():
            assert len(text) >= 20 and not text.endswith("."), (key, text)
    keys = [k for options in OPTIONS.values() for k in options]
    assert len(keys) == len(set(keys)), "an option is described twice"
