"""The Review dock after a bug hunt: replaced files, undone autosaved edits, the form, sources."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from napari_unet.core.images.io import read_image, write_image

pytest.importorskip("napari")

SIDE = 64


@pytest.fixture
def folder(tmp_path):
    """Three grey images with label files beside them (no prediction needed)."""
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    for k, name in enumerate("abc"):
        lab = np.zeros((SIDE, SIDE), np.uint16)
        for i in range(3):
            lab[5 + 20 * i : 15 + 20 * i, 5 + 10 * k : 25 + 10 * k] = i + 1
        write_image(images / f"{name}.tif", ((lab > 0) * 1000 + 50 * k).astype(np.uint16))
        write_image(labels / f"{name}_labels.tif", lab)
    return images, labels


def _dock(make_napari_viewer, qtbot, folder, **form):
    from napari_unet.widgets.review import ReviewWidget

    images, labels_folder = folder
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = images
    widget._form.labels_folder.value = labels_folder
    for key, value in form.items():
        getattr(widget._form, key).value = value
    assert widget.open()
    widget._timer.setInterval(10**8)  # the test calls autosave itself
    _shown(widget, qtbot, 0)
    return viewer, widget


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: widget._index == index and widget._shown == widget.review.names[index],
        timeout=60_000,
    )


def test_a_file_replaced_after_accept_is_shown_anew_and_said_to_have_changed(
    make_napari_viewer, qtbot, folder
):
    # the saved image stayed in memory without its file's stamp: the old pixels, no warning
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name = widget.current_name
    widget.accept()
    _shown(widget, qtbot, 1)
    path = widget.review.path(name)
    before = path.stat().st_mtime_ns
    write_image(path, np.full((SIDE, SIDE), 4321, np.uint16))  # re-acquired, same size
    os.utime(path, ns=(before + 10**10, before + 10**10))
    widget.go(0)
    _shown(widget, qtbot, 0)
    assert np.asarray(widget._image_layer.data).max() == 4321
    assert "changed since it was reviewed" in widget._status.value
    widget.shutdown()


def test_a_stroke_autosaved_then_undone_is_no_correction(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer = widget.current_name, widget._labels_layer
    before = np.array(layer.data)
    layer.paint((40, 40), 77)
    assert widget.writer.flush()  # nothing still writing: the autosave is not postponed
    widget.autosave()  # the timer wrote the stroke
    assert widget.writer.flush()
    layer.undo()
    widget.accept()
    _shown(widget, qtbot, 1)
    assert widget.review.entries[name].status == "accepted"
    assert widget.writer.flush()
    np.testing.assert_array_equal(read_image(widget.review.labels_path(name), labels=True), before)
    widget.shutdown()


def test_corrections_follow_the_labels_across_visits(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    names = widget.review.names
    widget.accept()  # a: accepted as it came
    _shown(widget, qtbot, 1)
    widget.go(0)
    _shown(widget, qtbot, 0)
    widget._labels_layer.paint((40, 40), 77)
    assert widget.writer.flush()  # an earlier save still writing would postpone this one
    widget.autosave()  # editing an accepted image makes it corrected
    assert widget.review.entries[names[0]].status == "corrected"
    widget._labels_layer.undo()
    widget.next_image()  # left with the stroke undone: accepted again
    _shown(widget, qtbot, 1)
    assert widget.review.entries[names[0]].status == "accepted"
    widget._labels_layer.paint((40, 40), 77)  # b: corrected, then seen again and accepted
    assert widget.writer.flush()
    widget.autosave()
    widget.accept()
    _shown(widget, qtbot, 2)
    assert widget.review.entries[names[1]].status == "corrected"
    widget.go(1)
    _shown(widget, qtbot, 1)
    widget.accept()
    assert widget.review.entries[names[1]].status == "corrected"
    widget.shutdown()


def test_the_latest_choice_of_folder_or_files_is_reviewed(qtbot, tmp_path):
    # files picked, then a folder: the files were reviewed while the form showed the folder
    from napari_unet.widgets._review_form import ReviewForm

    for plate in ("plate1", "plate2"):
        (tmp_path / plate).mkdir()
        for k in range(2):
            write_image(tmp_path / plate / f"{k}.tif", np.zeros((8, 8), np.uint8))
    files = sorted((tmp_path / "plate1").iterdir())
    form = ReviewForm()
    form.files.value = files
    assert "2 files" in form.chosen.value
    form.images.value = tmp_path / "plate2"
    assert form.files.value == ()
    assert form.request()["images"] == tmp_path / "plate2"
    assert form.output.value == tmp_path / "plate2-review"
    assert "plate2" in form.chosen.value
    form.files.value = files[:1]
    assert form.request()["images"] == files[:1]
    assert "1 file: 0.tif" in form.chosen.value
    assert form.output.value == tmp_path / "plate1-review"


def test_the_status_names_the_label_file_and_counts_its_objects(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    assert "3 objects from file a_labels.tif" in widget._status.value
    widget.shutdown()


@pytest.mark.parametrize("images", [{"a.tif": {"status": "accepted"}}, {"a.tif": "accepted"}, []])
def test_a_foreign_review_file_is_refused_with_a_notification(
    make_napari_viewer, qtbot, folder, tmp_path, errors, images
):
    from napari_unet.widgets.review import ReviewWidget

    out = tmp_path / "out"
    out.mkdir()
    (out / "review.json").write_text(json.dumps({"images": images}))
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    widget._form.images.value = folder[0]
    widget._form.output.value = out
    assert not widget.open()
    assert any("not a readable review file" in e for e in errors)
    assert "not a readable review file" in widget._status.value


def test_rescues_of_two_output_folders_of_one_name_do_not_collide(tmp_path, monkeypatch, errors):
    import tempfile

    from napari_unet.core.review.session import Review
    from napari_unet.core.review.writer import Writer
    from napari_unet.widgets._review_actions import rescue_unsaved

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    for exp, value in (("exp1", 11), ("exp2", 22)):
        images = tmp_path / exp / "images"
        images.mkdir(parents=True)
        write_image(images / "a.tif", np.zeros((16, 16), np.uint16))
        review = Review(images, tmp_path / exp / "images-review")
        writer = Writer(review)
        writer._latest["a.tif"] = np.full((16, 16), value, np.int32)  # its write failed
        writer._failed.add("a.tif")
        rescue_unsaved(writer, review.output)
        writer._pool.shutdown()
    rescued = sorted((tmp_path / "tmp" / "napari-unet-unsaved" / "images-review").glob("*/*"))
    assert [int(read_image(p, labels=True)[0, 0]) for p in rescued] in ([11, 22], [22, 11])
    folders = {p.parent for p in rescued}
    assert len(folders) == 2  # and each message says where its labels went
    assert all(any(f"saved to {f}" in message for message in errors) for f in folders)
