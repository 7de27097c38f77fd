"""``python -m piebench report``: one self-contained HTML folder with the tables, plots and a
gallery of every sample's edits and scores (see ``cli.py`` for the flow)."""
