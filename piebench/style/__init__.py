"""Diffusion in Style (Everaert et al., ICCV 2023), built from the paper's description.

Stable Diffusion's initial latent carries style and layout; the paper replaces N(0, I) with a
style-specific Gaussian estimated from a few style images and optionally fine-tunes the UNet
with that noise. Notation (code -> paper): ``mu``, ``sigma`` -> per-element mean and standard
deviation of the style images' VAE latents (4 x h x w); ``eps`` -> epsilon ~ N(0, I);
``eps_s = mu + sigma * eps`` -> the style noise; ``alphas_cumprod[t]`` -> alpha-bar_t.

Modules: ``images`` (the style folder), ``noise`` (the distribution and its sampler), ``fit``,
``finetune``, ``generate``, ``evaluate`` (+ ``curves``), ``prompts``, ``config`` and ``cli``
(``python -m piebench style fit|finetune|generate|evaluate``).
"""
