"""PIE-Bench metrics (installed as ``piebench.metrics``), one module per metric family.

``masked`` (regions, parity vs clean), ``profiles`` (the library-era settings of an
evaluation), ``pixel`` (PSNR/MSE), ``ssim``, ``lpips_metric``, ``clip_score`` (with
``clip_preprocess``, the reference's image preprocessing), ``structure`` (DINO key
self-similarity), ``fid`` (FID/KID), ``timing`` (records), ``weights`` / ``networks`` (offline
loading, once per evaluation) and ``registry`` (column name -> metric).
"""
