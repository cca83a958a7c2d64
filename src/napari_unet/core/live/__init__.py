"""Training while the user paints (no Qt, no napari).

:mod:`.data` keeps one plane's annotations, targets and weight maps current box by box;
:mod:`.trainer` fine-tunes a model on them in a thread and predicts the view on request.
"""
