"""Open-vocabulary segmenters; each subclasses ``OpenVocabSegmenter`` from ``base``."""
