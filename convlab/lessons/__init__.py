"""Lesson code: one module per lesson, on top of the NumPy core (which never imports it).

    convlab/lessons/
        ui.py            the one way to build an explorer: View (text + figure), explorer(),
                         the control factories (one continuous_update policy)
        check.py         the one way to check an answer: report(), as_shape(), as_number(),
                         answer_check, compare_guess (predict, then check)
        draw.py          drawing primitives shared by the lessons (grids, blocks, curves)
        lessonNN.py      lesson NN's views, explorers, figures and answer checks
                         (notebooks/NN_*.ipynb), its implement-it check included
        gradcheck_lab.py lesson 5's gradient check with switches that break a layer
        implement.py     the machinery every implement-it check shares (cases, comparing,
                         hints); stubs.py the stub cells the learner starts from
        layer_checks.py  lesson 10's checks of whole layer classes (Convolution, Pooling),
                         on implement's machinery
        solutions.py     every worked solution, shown only when the learner asks

A notebook imports its own lesson module, e.g. ``from convlab.lessons import lesson03``.
Numbers that draw nothing live in the core (``convlab.analysis``), importable without matplotlib;
``convlab.exercises`` gathers the implement-it checks (lesson 10's layer classes included).
"""
