"""``python -m piebench bench``: speed of a configured run against the reference's way of working.

``cli`` (the command), ``timed_run`` (our run, timed through the real runner, and the metrics),
``baseline`` (one sample at a time, fp32, the reference's passes), ``results`` (the CSV row).
"""
