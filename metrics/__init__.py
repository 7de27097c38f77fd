"""PIE-Bench metrics (installed as ``piebench.metrics``), one module per metric family.

``masked`` (regions, parity vs clean), ``pixel`` (PSNR/MSE/SSIM), ``lpips_metric``,
``clip_score``, ``structure`` (DINO key self-similarity), ``fid`` (FID/KID), ``timing``
(records), ``weights`` / ``networks`` (offline loading, once per evaluation) and ``registry``
(column name -> metric).
"""
