"""`rdrf split` and `rdrf export`: scene-level splits and dataset exports in training layouts.

splits (the split rule, pins, leak checks) -> plan (what an export holds, from the catalogue) ->
writers (one per layout) -> export (the folder, its manifest and datasheet, the Export row).
"""
