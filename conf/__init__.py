"""Hydra configs of piebench, installed as ``piebench.conf`` (see ``piebench.resources``)."""
