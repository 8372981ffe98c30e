"""``ovseg predict --labels``: open-vocabulary segmentation of any image files with free-text labels.

inputs.py             labels and image files, checked before any work
render.py             the label PNG, the overlay with its legend, the JSON of areas (written atomically)
closed_vocabulary.py  a selftrain model's own classes instead of free text: some of them, or all
cli.py                the command (routed from ``ovseg predict`` when --labels, --images or --out is given)
"""
