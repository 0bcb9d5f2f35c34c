"""The sweep on Ray Tune: the command line (cli), the driver (driver), Tune's search space and
searchers (space), the trial function (trial), multi-worker trials (multi_worker) and the
resources arithmetic (capacity). The only package that imports ray.
"""
