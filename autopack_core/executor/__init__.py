"""The executor: drives runs through their phases, owns every effect, and resumes them.

- ``loop``: the phase loop (``Executor``), one effect per step, decided from the log.
- ``attempt``: the fold of the log that says where the active phase stands.
- ``recovery``: failure categories, error signatures, the health budget.
- ``doctor``: self-healing, budgets, the Doctor and its actions.
- ``resume``: reconciling the workspace with the log.
- ``progress``: what the user sees (rich, key=value lines, JSON).
- ``runner``: starting and resuming runs (checks before anything is written).
- ``crashpoints``: test-only switches that kill the process at chosen points.
"""
