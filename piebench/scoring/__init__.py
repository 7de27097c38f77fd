"""Scoring: evaluate run folders, tabulate, compare with the paper, export the leaderboard."""
