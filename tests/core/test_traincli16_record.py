"""What a resumed run's model file records of its data, and the channel refusal's advice.

Before, a resumed run recorded only its own part's data: a fluorescence model resumed on a
bright (H&E-like) image said it was trained on that image alone, with ``background``
"bright" and that image's ``object_size``. And a colour validation image beside grey
training images was refused with Python advice only (``make_pairs(..., in_channels=N)``),
also for the command line, which has ``--grey``.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    InputError,
    TrainConfig,
    make_pairs,
    read_metadata,
    touching_cells,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def config(steps: int) -> TrainConfig:
    return TrainConfig(
        model="tiny", steps=steps, batch_size=2, crop_size=48, val_fraction=0.0,
        device="cpu", prefetch=0, event_interval=0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dark_and_bright():
    """A dark-background image of small cells, and a bright one of cells twice as large."""
    dark, dark_labels = touching_cells((96, 96), n_cells=8, seed=0)
    small, small_labels = touching_cells((48, 48), n_cells=3, seed=1)
    bright = np.kron(small, np.ones((2, 2)))
    bright = bright.max() - bright
    bright_labels = np.kron(small_labels, np.ones((2, 2), dtype=small_labels.dtype))
    return (
        make_pairs([dark], [dark_labels], names=["dark.tif"]),
        make_pairs([bright], [bright_labels], names=["bright.png"]),
        make_pairs([dark, bright], [dark_labels, bright_labels], names=["dark.tif", "bright.png"]),
    )


def test_a_run_resumed_on_other_data_records_every_part(tmp_path, dark_and_bright):
    dark, bright, both = dark_and_bright
    first, resumed = tmp_path / "r1.safetensors", tmp_path / "r2.safetensors"
    train(dark, config(2), output=first)
    one = read_metadata(first)
    assert one["background"] == "dark"

    train(bright, config(3), resume=first, output=resumed)  # resumed from the file
    meta = read_metadata(resumed)
    assert meta["provenance"]["data"] == ["dark.tif", "bright.png"]  # before: bright.png only
    assert "background" not in meta  # mixed, as one run over both records: before "bright"
    assert meta["provenance"]["cells"] == one["provenance"]["cells"] + 3
    alone = train(bright, config(1)).metadata["object_size"]
    together = train(both, config(1)).metadata["object_size"]
    assert one["object_size"] < meta["object_size"] < alone  # before: the bright part's alone
    assert meta["object_size"] == pytest.approx(together, rel=0.1)


def test_a_run_resumed_on_all_its_data_records_it_as_one_run(tmp_path, dark_and_bright):
    dark, bright, both = dark_and_bright
    first = train(dark, config(2))
    again = train(dark, config(3), resume=first)  # a plain resume (in memory): unchanged
    assert again.metadata["provenance"]["data"] == ["dark.tif"]
    assert again.metadata["background"] == "dark"
    assert again.metadata["object_size"] == first.metadata["object_size"]
    more = train(both, config(3), resume=first)  # images added: its own record, exact
    whole = train(both, config(1)).metadata
    assert more.metadata["provenance"]["data"] == ["dark.tif", "bright.png"]
    assert more.metadata["object_size"] == whole["object_size"]
    assert more.metadata.get("background") == whole.get("background")


def test_a_colour_validation_image_is_refused_with_the_commands_advice_too(dark_and_bright):
    dark = dark_and_bright[0]
    img, lab = touching_cells((64, 64), n_cells=4, seed=2)
    colour = make_pairs([np.stack([img, img * 0.5, img * 0.2], -1)], [lab], names=["col.png"],
                        validation=True)  # fmt: skip
    with pytest.raises(InputError) as err:
        train(dark, config(1), val=colour)
    message = str(err.value)
    assert "val[0] ('col.png') has 3 channel(s)" in message
    assert "--grey" in message  # before: make_pairs(..., in_channels=N) only
    assert "in_channels=1" in message


def test_a_merged_run_resumed_again_on_its_last_part_keeps_its_record(tmp_path, dark_and_bright):
    """Before, each resume on the last part counted its cells again (the size drifted)."""
    dark, bright, _ = dark_and_bright
    first, merged, again = (tmp_path / f"r{i}.safetensors" for i in range(3))
    train(dark, config(2), output=first)
    train(bright, config(3), resume=first, output=merged)
    train(bright, config(4), resume=merged, output=again)
    before, after = read_metadata(merged), read_metadata(again)
    for key in ("data", "data_ids", "cells"):
        assert after["provenance"][key] == before["provenance"][key]
    assert after["object_size"] == before["object_size"]
    assert "background" not in after


def test_two_data_sets_of_the_same_file_names_are_told_apart(tmp_path, dark_and_bright):
    """Before, data were told by their names: img.tif of another set counted as the same."""
    dark, bright, _ = dark_and_bright
    first, resumed = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    same_name = make_pairs([bright[0].raw[0]], [bright[0].labels], names=["dark.tif"])
    train(dark, config(2), output=first)
    train(same_name, config(3), resume=first, output=resumed)
    meta = read_metadata(resumed)
    assert meta["provenance"]["data"] == ["dark.tif", "dark.tif"]
    assert len(set(meta["provenance"]["data_ids"])) == 2
    assert meta["provenance"]["cells"] == read_metadata(first)["provenance"]["cells"] + 3
