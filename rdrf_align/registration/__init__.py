"""`rdrf align`: homography, warp, photometry, raindrop masks and quality control of each pair.

The algorithms (features, homography, photometric, masks, quality, pair) are pure functions on
arrays; `runner` alone reads the catalogue and writes files.
"""
