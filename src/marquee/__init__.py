"""Marquee: personalization and delivery for streaming services.

Subpackages map the system: :mod:`marquee.data` (value types, datasets, splits),
:mod:`marquee.rank` (rankers), :mod:`marquee.metrics`, :mod:`marquee.evaluate` (protocols and
reports), :mod:`marquee.cli` (the command line). ``import marquee`` stays cheap: import the
subpackage you need.
"""

__version__ = "0.1.0"
