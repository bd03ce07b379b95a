"""Small statistics helpers."""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b not in (None, 0) else None
