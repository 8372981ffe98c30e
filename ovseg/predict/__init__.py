"""``ovseg predict --labels``: open-vocabulary segmentation of any image files with free-text labels.

inputs.py  labels and image files, checked before any work
render.py  the label PNG, the overlay with its legend, the JSON of areas (each written atomically)
cli.py     the command (routed from ``ovseg predict`` when --labels or --images is given)
"""
