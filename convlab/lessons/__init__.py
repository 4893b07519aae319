"""Lesson code: one module per lesson, on top of the NumPy core (never imported by it).

    convlab/lessons/
        ui.py       the one way to build an explorer: View (text + figure), explorer(), control factories
        check.py    the one way to check an answer: report(), as_shape(), as_number(), answer_check
        draw.py     drawing primitives shared by the lessons (grids, blocks, training curves)
        lessonNN.py lesson NN's views, explorers, figures and answer checks (notebooks/NN_*.ipynb)

A notebook imports its own lesson module, e.g. ``from convlab.lessons import lesson03 as lesson``.
Numbers that draw nothing live in the core (``convlab.analysis``), importable without matplotlib.
"""
