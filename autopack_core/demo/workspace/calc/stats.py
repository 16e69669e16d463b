"""Summary statistics over lists of numbers."""


def mean(values):
    """The arithmetic mean of ``values``."""
    return sum(values) / len(values)


def median(values):
    """The middle value of ``values``."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid]
